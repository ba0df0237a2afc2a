package oai

import (
	"slices"
	"testing"
)

func df(tag, ind1, ind2 string, subs ...string) string {
	s := `<datafield tag="` + tag + `" ind1="` + ind1 + `" ind2="` + ind2 + `">`
	for i := 0; i+1 < len(subs); i += 2 {
		s += `<subfield code="` + subs[i] + `">` + subs[i+1] + `</subfield>`
	}
	return s + `</datafield>`
}

func TestCrosswalkDC(t *testing.T) {
	rich := []byte(`<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000ngm a2200000 i 4500</leader>` +
		`<controlfield tag="008">190312s2019    xxu           000 0 fre d</controlfield>` +
		df("022", " ", " ", "a", "1234-5679 (print)") +
		df("041", "0", " ", "a", "engger", "a", "FRE") +
		df("110", "2", " ", "a", "Library of Congress.", "b", "Music Division.") +
		df("245", "0", "0", "a", "Symphonies :", "b", "the complete set /", "c", "not in dc", "n", "Part 1.") +
		df("260", " ", " ", "a", "Paris :", "b", "Editions J.", "c", "[between 1990 and 1999?]") +
		df("264", " ", "4", "c", "©2019") +
		df("490", "1", " ", "a", "Great works ;") +
		df("500", " ", " ", "a", "Includes index.") +
		df("505", "0", " ", "a", "Allegro -- Adagio.") +
		df("506", " ", " ", "a", "Open access.") +
		df("540", " ", " ", "a", "CC BY 4.0.") +
		df("600", "1", "0", "a", "Beethoven, Ludwig van,", "d", "1770-1827", "x", "Criticism and interpretation.") +
		df("610", "2", "0", "a", "Berliner Philharmoniker.") +
		df("651", " ", "0", "a", "Vienna (Austria)", "x", "History", "y", "19th century.") +
		df("653", " ", " ", "a", "symphonies") +
		df("700", "1", " ", "a", "Smith, J.", "e", "editor.") +
		df("773", "0", " ", "t", "Collected recordings.") +
		df("830", " ", "0", "a", "Great works.") +
		df("856", "4", "0", "u", "http://example.org/sym") +
		`</record>`)
	repo := newRepo()
	repo.recs = []Record{{ID: "r", Datestamp: day(1), MARCXML: rich},
		{ID: "s", Datestamp: day(2), MARCXML: marcXML("s", "Only 008", `<datafield tag="020" ind1=" " ind2=" "><subfield code="a">not an isbn</subfield></datafield>`)}}
	c, _ := newServer(t, repo, Options{})
	doc := c.get("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:library.example.edu:r")
	want := map[string][]string{
		"title":       {"Symphonies : the complete set / Part 1"},
		"creator":     {"Library of Congress. Music Division", "Smith, J."},
		"subject":     {"Beethoven, Ludwig van, 1770-1827--Criticism and interpretation", "Berliner Philharmoniker", "Vienna (Austria)--History--19th century", "symphonies"},
		"description": {"Includes index", "Allegro -- Adagio"},
		"publisher":   {"Editions J."},
		"date":        {"1990"},
		"type":        {"MovingImage"},
		"identifier":  {"urn:ISSN:1234-5679", "http://example.org/sym"},
		"language":    {"eng", "ger", "fre"},
		"relation":    {"Great works", "Collected recordings"},
		"rights":      {"Open access", "CC BY 4.0"},
	}
	for name, values := range want {
		if got := texts(doc, "//metadata/dc/"+name); !slices.Equal(got, values) {
			t.Errorf("dc:%s = %q, want %q", name, got, values)
		}
	}
	// Without 041 or 260/264, 008 gives language and date; a bad ISBN is left out.
	doc = c.get("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:library.example.edu:s")
	for name, values := range map[string][]string{"language": {"eng"}, "date": {"2019"}, "identifier": nil} {
		if got := texts(doc, "//metadata/dc/"+name); !slices.Equal(got, values) {
			t.Errorf("fallback dc:%s = %q, want %q", name, got, values)
		}
	}
	c.validate()
}

func TestTrimPunct(t *testing.T) {
	for in, want := range map[string]string{
		"Moby Dick /":       "Moby Dick",
		"Melville, Herman,": "Melville, Herman",
		"New York :":        "New York",
		"Smith, J.":         "Smith, J.",
		"J.":                "J.",
		"The end.":          "The end",
		"Wait...":           "Wait...",
		"  spaced ; ":       "spaced",
		"1819-1891.":        "1819-1891",
		"":                  "",
		"Tolkien, J. R. R.": "Tolkien, J. R. R.",
		"Title = Titre ;":   "Title = Titre",
	} {
		if got := trimPunct(in); got != want {
			t.Errorf("trimPunct(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"c2003.": "2003", "[1990?]": "1990", "12345": "12345", "n.d.": "n.d.", "©2019": "2019"} {
		if got := yearOf(in); got != want {
			t.Errorf("yearOf(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"0-306-40615-2 (pbk.)": "0306406152", "080442957x": "080442957X", "978 0 14 243724 7": "", "pbk.": ""} {
		if got := isbnOf(in); got != want {
			t.Errorf("isbnOf(%q) = %q, want %q", in, got, want)
		}
	}
}
