package main

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/circa-ils/circa/daia"
)

// circa serve answers availability on the plain HTTP listener and on the
// HTTPS one, without a key, as VuFind's DAIA driver asks for it.
func TestAvailabilityOnBothListeners(t *testing.T) {
	s := startDemoServer(t)
	for name, get := range map[string]func() (*http.Response, error){
		"http": func() (*http.Response, error) {
			return http.Get(s.httpURL + daia.Path + "?id=ppn:cir000000001%7Cppn:cir000000008&format=json")
		},
		"https": func() (*http.Response, error) {
			return s.httpsClient(t, nil).Get(s.httpsURL + daia.Path + "?id=ppn:cir000000001%7Cppn:cir000000008&format=json")
		},
	} {
		resp, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var r struct {
			Document []struct {
				ID   string            `json:"id"`
				Item []json.RawMessage `json:"item"`
			} `json:"document"`
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-DAIA-Version") != daia.Version || json.Unmarshal(body, &r) != nil ||
			len(r.Document) != 2 || r.Document[0].ID != "ppn:cir000000001" || len(r.Document[1].Item) == 0 {
			t.Errorf("%s: %s %v\n%s", name, resp.Status, resp.Header, body)
		}
	}
}
