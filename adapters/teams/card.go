package teams

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/herald-ci/herald/internal/jsonstr"
	"github.com/herald-ci/herald/templates"
)

// Size limits.
const (
	// MaxMessageBytes is Teams' message size limit, 28 KB, for Workflows
	// and connector messages alike (Microsoft's "Send messages using
	// incoming webhooks" and Teams' limits page).
	MaxMessageBytes = 28 << 10

	// budget is what Build aims for. Microsoft documents the limit but
	// not exactly what it counts (the service wraps our body in its own
	// activity), so we stay 2 KB under it; that also keeps pretty-printed
	// copies of a payload (golden files, debug dumps) within the limit.
	budget = MaxMessageBytes - 2<<10

	// maxSections is the connector's limit on MessageCard sections.
	maxSections = 10

	// keepRunes is the shortest a text is cut to when a card is too big.
	keepRunes = 80

	// maxDepth bounds the nesting of a rendered card.
	maxDepth = 64

	// maxMentionText is the longest text holding a mention that fit
	// leaves whole.
	maxMentionText = 300
)

// errNotCard wraps every "the template did not render the card this
// format needs" error.
var errNotCard = errors.New("not a valid card")

// node is a JSON value that keeps its object keys in the order the
// template wrote them, so the payload reads like its template and the
// golden files diff cleanly.
type node struct {
	kind byte     // 'o' object, 'a' array, 's' string, 'l' any other literal
	keys []string // object keys, parallel to vals
	vals []*node  // object values or array items
	str  string   // a string's value
	lit  string   // a number, true, false or null as written
}

func obj(kv ...any) *node {
	n := &node{kind: 'o', keys: make([]string, 0, len(kv)/2), vals: make([]*node, 0, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		n.keys = append(n.keys, kv[i].(string))
		n.vals = append(n.vals, kv[i+1].(*node))
	}
	return n
}

func arr(items ...*node) *node { return &node{kind: 'a', vals: items} }
func str(s string) *node       { return &node{kind: 's', str: s} }
func lit(s string) *node       { return &node{kind: 'l', lit: s} }

// get returns the value of key in an object, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != 'o' {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// getStr returns the string value of key, or "".
func (n *node) getStr(key string) string {
	if v := n.get(key); v != nil && v.kind == 's' {
		return v.str
	}
	return ""
}

// parse reads exactly one JSON value from b.
//
// Valid JSON, what every working template renders, is read by fastParse;
// anything else by parseTokens, whose encoding/json errors name the fault.
// Both give the same tree and refuse the same cards (duplicate keys, too
// deep): TestFastParseMatchesTokens compares them.
func parse(b []byte) (*node, error) {
	if json.Valid(b) {
		return fastParse(b)
	}
	return parseTokens(b)
}

// parseTokens reads exactly one JSON value from b with encoding/json's
// tokenizer.
func parseTokens(b []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the card")
	}
	return n, nil
}

func parseValue(dec *json.Decoder, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("invalid card: nested deeper than %d", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: 'o'}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("invalid JSON: %w", err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("invalid JSON: object key is not a string")
				}
				if seen[k] {
					return nil, fmt.Errorf("invalid card: key %q appears twice in one object", k)
				}
				seen[k] = true
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("invalid JSON: %w", err)
			}
			return n, nil
		case '[':
			n := &node{kind: 'a'}
			for dec.More() {
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("invalid JSON: %w", err)
			}
			return n, nil
		}
		return nil, fmt.Errorf("invalid JSON: unexpected %v", t)
	case string:
		return str(t), nil
	case json.Number:
		return lit(t.String()), nil
	case bool:
		if t {
			return lit("true"), nil
		}
		return lit("false"), nil
	case nil:
		return lit("null"), nil
	}
	return nil, fmt.Errorf("invalid JSON: unexpected token %v", tok)
}

// encode writes n as compact JSON. Strings are escaped as encoding/json
// escapes them (invalid UTF-8 becomes U+FFFD; U+2028 and U+2029 are always
// escaped), without its HTML escaping, which Teams does not need: see
// internal/jsonstr.
//
// The bytes are written into a pooled scratch buffer and copied out at
// their final size: one allocation per encoding rather than one per
// doubling of the buffer.
func (n *node) encode() []byte {
	bp := encodePool.Get().(*[]byte)
	b := n.appendTo((*bp)[:0])
	out := bytes.Clone(b)
	if cap(b) <= maxPooledEncode {
		*bp = b
		encodePool.Put(bp)
	}
	return out
}

var encodePool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// maxPooledEncode is the largest scratch buffer kept: twice the budget,
// room for any card Build sends.
const maxPooledEncode = 2 * MaxMessageBytes

func (n *node) appendTo(b []byte) []byte {
	switch n.kind {
	case 'o':
		b = append(b, '{')
		for i, k := range n.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, k)
			b = append(b, ':')
			b = n.vals[i].appendTo(b)
		}
		return append(b, '}')
	case 'a':
		b = append(b, '[')
		for i, v := range n.vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = v.appendTo(b)
		}
		return append(b, ']')
	case 's':
		return jsonstr.Append(b, n.str)
	default:
		return append(b, n.lit...)
	}
}

// encodedLen is the length of n's encoding.
func encodedLen(n *node) int {
	bp := encodePool.Get().(*[]byte)
	b := n.appendTo((*bp)[:0])
	if cap(b) <= maxPooledEncode {
		*bp = b
		encodePool.Put(bp)
	}
	return len(b)
}

var versionRE = regexp.MustCompile(`^1\.([0-9])$`)

// checkAdaptiveCard accepts an Adaptive Card that Teams renders: type
// AdaptiveCard and a version from 1.0 to 1.5.
func checkAdaptiveCard(card *node) error {
	if card.kind != 'o' {
		return fmt.Errorf("%w: the template must render a JSON object", errNotCard)
	}
	if t := card.getStr("type"); t != "AdaptiveCard" {
		return fmt.Errorf("%w: type is %q, want \"AdaptiveCard\"", errNotCard, t)
	}
	v := card.getStr("version")
	if m := versionRE.FindStringSubmatch(v); m == nil || m[1] > "5" {
		return fmt.Errorf("%w: version %q is not one Teams renders (1.0 to 1.5)", errNotCard, v)
	}
	if b := card.get("body"); b != nil && b.kind != 'a' {
		return fmt.Errorf("%w: body must be an array", errNotCard)
	}
	if a := card.get("actions"); a != nil && a.kind != 'a' {
		return fmt.Errorf("%w: actions must be an array", errNotCard)
	}
	return nil
}

// checkMessageCard accepts a legacy connector MessageCard and trims its
// sections to the connector's ten.
func checkMessageCard(card *node) error {
	if card.kind != 'o' {
		return fmt.Errorf("%w: the template must render a JSON object", errNotCard)
	}
	if t := card.getStr("@type"); t != "MessageCard" {
		return fmt.Errorf("%w: @type is %q, want \"MessageCard\"", errNotCard, t)
	}
	if card.getStr("@context") == "" {
		return fmt.Errorf("%w: @context is missing", errNotCard)
	}
	// The connector answers "Summary or Text is required." without one.
	if strings.TrimSpace(card.getStr("summary")) == "" && strings.TrimSpace(card.getStr("text")) == "" {
		return fmt.Errorf("%w: summary or text is required", errNotCard)
	}
	s := card.get("sections")
	if s == nil {
		return nil
	}
	if s.kind != 'a' {
		return fmt.Errorf("%w: sections must be an array", errNotCard)
	}
	if n := len(s.vals); n > maxSections {
		s.vals = append(s.vals[:maxSections-1], note("sections", s, n-maxSections+1, "Teams shows at most 10 sections"))
	}
	return nil
}

// sanitize removes from every string of the card the characters that have
// no business in a chat message and can mislead a reader: C0 and C1
// control characters other than tab and line breaks, and the bidi
// embedding, override and isolate controls (U+202A to U+202E, U+2066 to
// U+2069), which would reverse the text after them, the rest of a fact
// included ("Trojan Source"). Right-to-left text itself needs none of them.
func sanitize(root *node) {
	walk(root, "", func(_ string, n *node) {
		if n.kind == 's' {
			n.str = templates.Clean(n.str) // the same rule for every adapter
		}
	})
}

// textKeys are the object keys whose string values are prose a reader
// sees, and so may be shortened to make a card fit. URLs, types and styles
// are never touched.
var textKeys = map[string]bool{
	"text": true, "value": true, "title": true, "name": true, "summary": true,
	"activityTitle": true, "activitySubtitle": true, "activityText": true,
}

// listKeys are the arrays whose tail may be dropped to make a card fit.
var listKeys = map[string]bool{"body": true, "items": true, "facts": true, "sections": true, "inlines": true}

// fit shrinks root until its encoding is at most limit bytes and returns
// that encoding. First the longest texts are cut, visibly with "…"; then,
// if the card is still too big (many small elements), the longest lists
// lose their tail, with a note saying how many elements were left out.
func fit(root *node, limit int) ([]byte, error) {
	b := root.encode()
	if len(b) <= limit {
		return b, nil
	}
	total := len(b)

	// 1. Cut the longest texts, longest first. A short text holding a
	// mention (<at>Name</at>, only the mention helper writes one) is kept
	// whole: cut, it would no longer match its entity.
	var texts []*node
	walk(root, "", func(key string, n *node) {
		if n.kind == 's' && textKeys[key] && utf8.RuneCountInString(n.str) > keepRunes &&
			!(strings.Contains(n.str, "<at>") && utf8.RuneCountInString(n.str) <= maxMentionText) {
			texts = append(texts, n)
		}
	})
	sort.SliceStable(texts, func(i, j int) bool {
		return utf8.RuneCountInString(texts[i].str) > utf8.RuneCountInString(texts[j].str)
	})
	for _, t := range texts {
		if total <= limit {
			break
		}
		runes := utf8.RuneCountInString(t.str)
		// Every rune takes at least one byte, and "…" three, so cutting
		// excess+3 runes is enough whatever the text holds.
		keep := max(runes-(total-limit)-3, keepRunes)
		before := encodedLen(t)
		t.str = cutText(t.str, keep)
		total += encodedLen(t) - before
	}

	// 2. Drop the tail of the longest lists.
	for range 16 {
		if total <= limit {
			break
		}
		var list *node
		var listKey string
		walk(root, "", func(key string, n *node) {
			if n.kind == 'a' && listKeys[key] && len(n.vals) > 1 && (list == nil || len(n.vals) > len(list.vals)) {
				list, listKey = n, key
			}
		})
		if list == nil {
			break
		}
		sizes := make([]int, len(list.vals))
		for i, v := range list.vals {
			sizes[i] = encodedLen(v) + 1 // and its comma
		}
		dropped := 0
		for len(list.vals) > 1 && total+256 > limit { // 256: room for the note
			last := len(list.vals) - 1
			total -= sizes[last]
			list.vals = list.vals[:last]
			dropped++
		}
		if n := note(listKey, list, dropped, "Teams accepts at most 28 KB"); n != nil {
			list.vals = append(list.vals, n)
		}
		total = len(root.encode())
	}

	b = root.encode()
	if len(b) > limit {
		return nil, fmt.Errorf("card is %d bytes after shortening, Teams accepts %d", len(b), limit)
	}
	return b, nil
}

// note is the element that stands in for n left-out elements of list.
func note(listKey string, list *node, n int, why string) *node {
	text := fmt.Sprintf("… %d more left out (%s)", n, why)
	switch listKey {
	case "body", "items":
		return obj("type", str("TextBlock"), "text", str(text), "isSubtle", lit("true"), "size", str("Small"), "wrap", lit("true"))
	case "inlines":
		return obj("type", str("TextRun"), "text", str(text), "isSubtle", lit("true"))
	case "sections":
		return obj("text", str(text))
	case "facts":
		// A fact of the list's own shape: title (Adaptive Card) or name
		// (MessageCard), and value.
		if len(list.vals) > 0 && list.vals[0].get("name") != nil {
			return obj("name", str("…"), "value", str(text))
		}
		return obj("title", str("…"), "value", str(text))
	}
	return nil
}

// walk calls fn for every value under n with the key it sits under (the
// enclosing key for array items).
func walk(n *node, key string, fn func(key string, n *node)) {
	fn(key, n)
	switch n.kind {
	case 'o':
		for i, k := range n.keys {
			walk(n.vals[i], k, fn)
		}
	case 'a':
		for _, v := range n.vals {
			walk(v, key, fn)
		}
	}
}

// cutText cuts s to keep runes ending in "…", without leaving half of a
// Markdown escape ("\*") or of an entity ("&lt;") at the cut.
func cutText(s string, keep int) string {
	t := templates.Truncate(keep, s)
	if t == s {
		return s
	}
	t = strings.TrimSuffix(t, "…")
	if i := strings.LastIndexByte(t, '&'); i >= 0 && len(t)-i < 6 && !strings.Contains(t[i:], ";") {
		t = t[:i]
	}
	if n := len(t) - len(strings.TrimRight(t, `\`)); n%2 == 1 {
		t = t[:len(t)-1]
	}
	return t + "…"
}

// keepMentions removes from a card's msteams.entities the mentions whose
// text ("<at>Name</at>") the card's body no longer shows, cut or dropped
// to fit: an entity must match the text it stands for. It reports whether
// it removed any.
func keepMentions(card *node) bool {
	ents := card.get("msteams").get("entities")
	if ents == nil || ents.kind != 'a' {
		return false
	}
	var shown strings.Builder
	if body := card.get("body"); body != nil {
		walk(body, "body", func(_ string, n *node) {
			if n.kind == 's' {
				shown.WriteString(n.str)
				shown.WriteByte(0)
			}
		})
	}
	kept := ents.vals[:0]
	for _, e := range ents.vals {
		if e.getStr("type") != "mention" || strings.Contains(shown.String(), e.getStr("text")) {
			kept = append(kept, e)
		}
	}
	removed := len(kept) < len(ents.vals)
	ents.vals = kept
	return removed
}
