package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// moneyKeys are the YAML keys of the rules that hold amounts. They are
// written as a decimal with its currency ("0.25 USD") and stored as minor
// units.
var moneyKeys = map[string]bool{"fine_per_day": true, "fine_cap": true, "max_balance": true, "amount": true}

// EncodeRules writes rules as YAML with amounts as decimals and currency.
func EncodeRules(r *Rules) ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(r); err != nil {
		return nil, err
	}
	walkMoney(&doc, func(n *yaml.Node) {
		minor, err := strconv.ParseInt(n.Value, 10, 64)
		if err == nil {
			n.Value, n.Tag, n.Style = FormatMoney(minor, r.Currency), "!!str", 0
		}
	})
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// DecodeRules reads rules written as EncodeRules writes them. An amount is
// "0.25 USD" or a bare decimal ("0.25") in the rules' currency; a bare
// integer other than 0 is refused, since amounts were once written in minor
// units and "25" would silently mean something else. Unknown fields, amounts
// in another currency and more decimals than the currency has are errors
// naming the line, all reported at once.
func DecodeRules(data []byte) (Rules, error) {
	var r Rules
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return r, err
	}
	if len(doc.Content) == 0 {
		return r, errors.New("empty file")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return r, fmt.Errorf("line %d: the rules are a mapping (as printed by rules show)", root.Line)
	}
	currency := ""
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "currency" {
			currency = strings.ToUpper(strings.TrimSpace(root.Content[i+1].Value))
		}
	}
	errs := knownFields(root, reflect.TypeOf(r))
	walkMoneyKeyed(root, func(key, n *yaml.Node) {
		minor, err := parseMoney(n, currency)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %s: %w", n.Line, key.Value, err))
			return
		}
		n.Value, n.Tag, n.Style = strconv.FormatInt(minor, 10), "!!int", 0
	})
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	if err := root.Decode(&r); err != nil {
		return r, err
	}
	return r, nil
}

func parseMoney(n *yaml.Node, currency string) (int64, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, errors.New(`an amount is written as a decimal with its currency, e.g. "0.25 USD"`)
	}
	text := strings.TrimSpace(n.Value)
	amount, cur, hasCur := strings.Cut(text, " ")
	cur = strings.ToUpper(strings.TrimSpace(cur))
	switch {
	case hasCur && len(cur) != 3:
		return 0, fmt.Errorf("%q: the currency is a three-letter ISO 4217 code, e.g. \"0.25 USD\"", text)
	case hasCur && currency != "" && cur != currency:
		return 0, fmt.Errorf("%q is in %s, the rules are in %s", text, cur, currency)
	case !hasCur && currency == "":
		return 0, fmt.Errorf("%q needs a currency: write it as \"%s USD\" or set currency:", text, text)
	case !hasCur && !strings.Contains(amount, ".") && strings.Trim(amount, "0") != "":
		hint := "0.25 " + currency
		if n, err := strconv.ParseInt(amount, 10, 64); err == nil {
			hint = FormatMoney(n, currency)
		}
		return 0, fmt.Errorf("%q has no decimal point or currency, and amounts are no longer written in minor units: write %q if %s minor units were meant",
			text, hint, text)
	}
	if !hasCur {
		cur = currency
	}
	return ParseAmount(amount, cur)
}

func walkMoney(n *yaml.Node, fn func(*yaml.Node)) {
	walkMoneyKeyed(n, func(_, v *yaml.Node) { fn(v) })
}

func walkMoneyKeyed(n *yaml.Node, fn func(key, value *yaml.Node)) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if moneyKeys[n.Content[i].Value] && n.Content[i+1].Tag != "!!null" {
				fn(n.Content[i], n.Content[i+1])
				continue
			}
			walkMoneyKeyed(n.Content[i+1], fn)
		}
		return
	}
	for _, c := range n.Content {
		walkMoneyKeyed(c, fn)
	}
}

// knownFields refuses keys that name no field of t: a misspelt key must not
// be dropped silently (yaml's own KnownFields does not reach a Node decode).
func knownFields(n *yaml.Node, t reflect.Type) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var errs []error
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := map[string]reflect.Type{}
		names := make([]string, 0, t.NumField())
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = f.Type
			names = append(names, name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				errs = append(errs, fmt.Errorf("line %d: unknown field %q%s", k.Line, k.Value, DidYouMean(k.Value, names)))
				continue
			}
			errs = append(errs, knownFields(n.Content[i+1], ft)...)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for _, c := range n.Content {
			errs = append(errs, knownFields(c, t.Elem())...)
		}
	}
	return errs
}

// DidYouMean returns ` (did you mean "x"?)` for the known name closest to
// name, when one is close enough to be a likely misspelling, else "".
func DidYouMean(name string, known []string) string {
	best, bestDist := "", -1
	for _, k := range known {
		d := editDistance(strings.ToLower(name), strings.ToLower(k))
		if bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	limit := len(name) / 3
	if limit < 1 {
		limit = 1
	}
	if best == "" || bestDist > limit {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of two short names.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
