package bench

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// storeCounters are the server's commit counters from its /metrics.
type storeCounters struct {
	commits, ops float64
	ok           bool
}

// scrapeStore reads circa_store_commits_total and
// circa_store_operations_total from a server's Prometheus endpoint.
func scrapeStore(client *http.Client, metricsURL string) storeCounters {
	if metricsURL == "" {
		return storeCounters{}
	}
	resp, err := client.Get(metricsURL)
	if err != nil {
		return storeCounters{}
	}
	defer resp.Body.Close()
	return parseStoreCounters(resp.Body)
}

// parseStoreCounters reads the two store counters from a Prometheus text
// exposition.
func parseStoreCounters(r io.Reader) storeCounters {
	var c storeCounters
	sc := bufio.NewScanner(r)
	var seen int
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			continue
		}
		switch name {
		case "circa_store_commits_total":
			c.commits = v
			seen++
		case "circa_store_operations_total":
			c.ops = v
			seen++
		}
	}
	c.ok = seen == 2
	return c
}

var metricsClient = &http.Client{Timeout: 5 * time.Second}
