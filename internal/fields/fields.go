// Package fields implements TeamCity's "fields" selection on JSON: the
// value of TeamCity's teamcity.internal.webhooks.<EVENT>.fields parameter,
// such as "fields=buildTypeId,number,canceledInfo(user(username))", parsed
// once (Parse) and applied to the JSON payload of an event (Apply).
//
// It holds only the syntax and the projection: no I/O, no knowledge of
// events, destinations or config. The webhook adapter applies a selection to
// what it forwards; internal/config may call Validate or ParseAll to report
// a malformed selection at load time.
//
// # Syntax
//
// Sources: TeamCity's webhook documentation ("Customize Request Payloads",
// JetBrains/teamcity-documentation topics/teamcity-webhooks.md: the value is
// "fields=field1,field2,object(field3)", the leading "fields=" included), the
// REST API documentation ("Full and Partial Responses", topics/rest-api.md:
// "field,field2(field2_subfield1,field2_subfield1)", order plays no role,
// unknown fields are ignored, "$long" means all the fields, "$locator" filters
// nested lists), and the parser those rest on (JetBrains/teamcity-rest
// model/Fields.java and data/Locator.java in extended mode):
//
//	spec  = [ "fields=" ] list
//	list  = item { "," item }
//	item  = name [ "(" list ")" | ":" "(" list ")" | ":" item ]
//	name  = field | "*" | "**" | "$long" | "-"
//	field = ( letter | digit | "-" | "_" | "." ) { letter | digit | "-" | "_" | "." }
//
// name(x), name:(x) and name:x are the same (TeamCity reads the value after
// ':' as the nested field's own selection, so "vcsLabels:$long" and
// "changes:-" work as there). Spaces, tabs and line breaks are allowed
// between tokens, so a long selection can be folded over lines in YAML;
// TeamCity itself rejects them, so a selection copied from TeamCity means the
// same here. A field named twice at one level is an error, as in TeamCity.
//
// # Meaning
//
// Herald does not have TeamCity's objects, only the JSON TeamCity sent (its
// full, "$long" form unless TeamCity itself was told to trim it), so:
//
//   - name keeps the field with its whole value as sent. (TeamCity would
//     render a nested object named without a selection in a short form
//     herald cannot reconstruct.)
//   - name(list) keeps the field and applies list to its value: to an
//     object's members; to every element of an array, which is how TeamCity's
//     collections work ({"count":1,"change":[...]} takes
//     "lastChanges(count,change(id,version))"); a string, number, boolean or
//     null is kept as it is.
//   - "*", "**" and "$long" keep every field at their level with its whole
//     value (TeamCity's nested short and long forms are again what was sent);
//     fields named beside them still get their own selection:
//     "*,buildType(id)".
//   - "-" alone at a level keeps nothing but the fields named beside it;
//     name(-) and name:- drop that field: "*,properties:-".
//   - a field the payload does not have is silently absent, as in TeamCity;
//     a field named explicitly is kept even when its value is null, false or 0.
//   - members keep the payload's order, key spelling and number formatting;
//     the spec's order plays no role, as in TeamCity.
//
// "$short" and an empty selection (TeamCity's reference form), "$optional"
// (only if cheap for the server) and "$locator" (a TeamCity locator filtering
// a nested list) need TeamCity's server-side model and are rejected with an
// error saying so, rather than silently ignored.
package fields

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Prefix is the optional start of a selection. TeamCity's parameter value
// carries it: teamcity.internal.webhooks.BUILD_INTERRUPTED.fields is set to
// "fields=buildTypeId,...", so a value copied from TeamCity parses as is.
const Prefix = "fields="

// MaxDepth bounds the nesting of parentheses in a selection. TeamCity's
// deepest payloads (revisions.revision[].vcs-root-instance) are four levels
// down; 32 leaves room without letting a hostile string recurse without end.
const MaxDepth = 32

// Selector is a parsed selection. The zero value keeps everything, like "*".
// A Selector is immutable and safe for concurrent use.
type Selector struct {
	root *level
}

// level is the selection at one level of the JSON.
type level struct {
	all   bool // "*", "**" or "$long": every field, whole
	none  bool // "-": no field but those named
	items []item
	index map[string]int // field name -> position in items

	specials map[string]int // special name -> where it was given
}

// item is one named field.
type item struct {
	name string
	drop bool   // name(-) or name:-
	sub  *level // nil: the whole value
	pos  int    // where it was named, for the duplicate error
}

// Error is a selection that does not parse, or uses what herald cannot
// honour. Pos is the 1-based position, in characters, in Spec.
type Error struct {
	Spec string
	Pos  int
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("position %d in %q: %s", e.Pos, e.Spec, e.Msg)
}

// Parse parses a selection in TeamCity's syntax (see the package doc). The
// error is an *Error with the position and what was expected there.
func Parse(spec string) (Selector, error) {
	p := &parser{s: spec}
	p.skipSpace()
	if strings.HasPrefix(p.s[p.i:], Prefix) {
		p.i += len(Prefix)
	}
	lv, err := p.list(-1)
	if err != nil {
		return Selector{}, err
	}
	return Selector{root: lv}, nil
}

// MustParse is Parse for selections written in code; it panics on error.
func MustParse(spec string) Selector {
	s, err := Parse(spec)
	if err != nil {
		panic(err)
	}
	return s
}

// Validate reports whether spec parses; the error is Parse's.
func Validate(spec string) error {
	_, err := Parse(spec)
	return err
}

// ParseAll parses a map of selections by key (an event type, such as
// BUILD_INTERRUPTED), as a destination's `fields` setting holds them. Every
// problem is reported, sorted by key and prefixed "fields.<key>: ". A nil or
// empty map gives a nil map.
func ParseAll(specs map[string]string) (map[string]Selector, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := make(map[string]Selector, len(specs))
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(specs)) {
		if strings.TrimSpace(k) == "" {
			errs = append(errs, errors.New("fields: an event type is empty"))
			continue
		}
		s, err := Parse(specs[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("fields.%s: %w", k, err))
			continue
		}
		out[k] = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// String returns the selection in canonical form: no prefix, no spaces,
// "*" for "*", "**" and "$long", name(-) for a dropped field. It parses back
// to the same selection. The zero Selector is "*".
func (s Selector) String() string {
	if s.root == nil {
		return "*"
	}
	var b strings.Builder
	s.root.write(&b)
	return b.String()
}

func (lv *level) write(b *strings.Builder) {
	n := 0
	sep := func() {
		if n > 0 {
			b.WriteByte(',')
		}
		n++
	}
	if lv.all {
		sep()
		b.WriteByte('*')
	}
	if lv.none {
		sep()
		b.WriteByte('-')
	}
	for _, it := range lv.items {
		sep()
		b.WriteString(it.name)
		switch {
		case it.drop:
			b.WriteString("(-)")
		case it.sub != nil:
			b.WriteByte('(')
			it.sub.write(b)
			b.WriteByte(')')
		}
	}
}

// parser is a recursive-descent parser over the spec's bytes.
type parser struct {
	s     string
	i     int
	depth int
}

// pos is the 1-based character position of byte offset off.
func (p *parser) pos(off int) int { return utf8.RuneCountInString(p.s[:off]) + 1 }

func (p *parser) errAt(off int, format string, args ...any) error {
	return &Error{Spec: p.s, Pos: p.pos(off), Msg: fmt.Sprintf(format, args...)}
}

// found describes what is at the current offset, for "expected X, found Y".
func (p *parser) found() string {
	if p.i >= len(p.s) {
		return "end of input"
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	return fmt.Sprintf("%q", r)
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		if !unicode.IsSpace(r) {
			return
		}
		p.i += n
	}
}

func (p *parser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

// list parses items up to the end of input (open < 0) or up to, not past,
// the ')' closing the '(' at byte offset open.
func (p *parser) list(open int) (*level, error) {
	lv := &level{}
	for {
		p.skipSpace()
		if err := p.item(lv); err != nil {
			return nil, err
		}
		p.skipSpace()
		switch {
		case p.peek(','):
			p.i++
		case open >= 0 && p.peek(')'):
			return lv, nil
		case open < 0 && p.i >= len(p.s):
			return lv, nil
		case open >= 0:
			return nil, p.errAt(p.i, "expected ',' or ')' to close '(' at position %d, found %s", p.pos(open), p.found())
		case p.peek(')'):
			return nil, p.errAt(p.i, "found ')' without a matching '('")
		default:
			return nil, p.errAt(p.i, "expected ',' or end of input, found %s", p.found())
		}
	}
}

// item parses one item into lv.
func (p *parser) item(lv *level) error {
	start := p.i
	name := p.name()
	if name == "" {
		return p.errAt(p.i, "expected a field name, found %s", p.found())
	}
	p.skipSpace()
	sub, err := p.selection(name)
	if err != nil {
		return err
	}
	switch name {
	case "*", "**", "$long":
		if sub != nil {
			return p.errAt(start, "%q takes no selection of its own", name)
		}
		return p.special(lv, name, start, func() { lv.all = true })
	case "-":
		if sub != nil {
			return p.errAt(start, "%q takes no selection of its own", name)
		}
		return p.special(lv, name, start, func() { lv.none = true })
	case "$short":
		return p.errAt(start, "%q (TeamCity's reference form) is not supported: herald has only the JSON TeamCity sent; list the fields instead", name)
	case "$optional":
		return p.errAt(start, "%q is not supported: herald cannot tell which fields are cheap for TeamCity to compute; list the fields instead", name)
	case "$locator":
		return p.errAt(start, "%q is not supported: herald cannot filter a collection with a TeamCity locator; set it in TeamCity's own fields parameter instead", name)
	}
	if name[0] == '$' {
		return p.errAt(start, "unknown special name %q (known: *, **, $long, -)", name)
	}
	if first, dup := lv.index[name]; dup {
		return p.errAt(start, "field %q is selected twice (first at position %d)", name, lv.items[first].pos)
	}
	it := item{name: name, pos: p.pos(start), sub: sub}
	if sub != nil && sub.none && !sub.all && len(sub.items) == 0 {
		it.drop, it.sub = true, nil
	}
	if lv.index == nil {
		lv.index = map[string]int{}
	}
	lv.index[name] = len(lv.items)
	lv.items = append(lv.items, it)
	return nil
}

// special records a special name, which TeamCity too takes once per level.
func (p *parser) special(lv *level, name string, start int, set func()) error {
	if first, dup := lv.specials[name]; dup {
		return p.errAt(start, "%q is given twice (first at position %d)", name, first)
	}
	if lv.specials == nil {
		lv.specials = map[string]int{}
	}
	lv.specials[name] = p.pos(start)
	set()
	return nil
}

// selection parses what may follow a name: "(list)", ":(list)" or ":item".
// It returns nil when nothing follows.
func (p *parser) selection(name string) (*level, error) {
	switch {
	case p.peek('('):
		return p.group()
	case p.peek(':'):
		colon := p.i
		p.i++
		p.skipSpace()
		if p.peek('(') {
			return p.group()
		}
		if p.i >= len(p.s) || p.peek(',') || p.peek(')') {
			return nil, p.errAt(p.i, "expected a selection for %q after ':' at position %d, found %s", name, p.pos(colon), p.found())
		}
		if err := p.enter(colon); err != nil {
			return nil, err
		}
		defer p.leave()
		lv := &level{}
		if err := p.item(lv); err != nil {
			return nil, err
		}
		return lv, nil
	}
	return nil, nil
}

// group parses "(" list ")".
func (p *parser) group() (*level, error) {
	open := p.i
	if err := p.enter(open); err != nil {
		return nil, err
	}
	defer p.leave()
	p.i++
	lv, err := p.list(open)
	if err != nil {
		return nil, err
	}
	p.i++ // the ')' list stopped at
	return lv, nil
}

func (p *parser) enter(off int) error {
	if p.depth >= MaxDepth {
		return p.errAt(off, "selection nested deeper than %d levels", MaxDepth)
	}
	p.depth++
	return nil
}

func (p *parser) leave() { p.depth-- }

// name scans a field name or a special name; "" if none starts here.
func (p *parser) name() string {
	start := p.i
	if p.peek('*') {
		p.i++
		if p.peek('*') {
			p.i++
		}
		return p.s[start:p.i]
	}
	if p.peek('$') {
		p.i++
	}
	for p.i < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		if !isNameRune(r) {
			break
		}
		p.i += n
	}
	if p.i == start || p.s[start:p.i] == "$" {
		p.i = start
		return ""
	}
	return p.s[start:p.i]
}

// isNameRune: TeamCity's field names are letters, digits and '-'
// (running-info, vcs-root-instance); '_' and '.' are added for other
// senders' keys (App Center's build_status).
func isNameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.'
}

// Apply projects the JSON value in through the selection. The result is
// compact; members keep in's order, and keys, strings and numbers keep their
// exact spelling. An error means in is not one valid JSON value.
func (s Selector) Apply(in json.RawMessage) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, in); err != nil {
		return nil, fmt.Errorf("fields: payload is not valid JSON: %w", err)
	}
	c := buf.Bytes()
	if s.root == nil {
		return c, nil
	}
	return project(make([]byte, 0, len(c)), c, s.root), nil
}

// project appends v, a compact valid JSON value, projected through lv.
func project(out, v []byte, lv *level) []byte {
	switch v[0] {
	case '{':
		out = append(out, '{')
		n := 0
		for i := 1; v[i] != '}'; {
			keyEnd := skipString(v, i)
			key := v[i:keyEnd]
			valEnd := skipValue(v, keyEnd+1)
			val := v[keyEnd+1 : valEnd]
			if keep, sub := lv.member(key); keep {
				if n > 0 {
					out = append(out, ',')
				}
				n++
				out = append(out, key...)
				out = append(out, ':')
				if sub == nil {
					out = append(out, val...)
				} else {
					out = project(out, val, sub)
				}
			}
			i = valEnd
			if v[i] == ',' {
				i++
			}
		}
		return append(out, '}')
	case '[':
		out = append(out, '[')
		for i, n := 1, 0; v[i] != ']'; n++ {
			end := skipValue(v, i)
			if n > 0 {
				out = append(out, ',')
			}
			out = project(out, v[i:end], lv)
			i = end
			if v[i] == ',' {
				i++
			}
		}
		return append(out, ']')
	default:
		return append(out, v...)
	}
}

// member decides a member by its quoted key: whether it is kept and, if
// so, the selection for its value (nil: whole).
func (lv *level) member(quoted []byte) (keep bool, sub *level) {
	if i, ok := lv.index[unquote(quoted)]; ok {
		it := lv.items[i]
		return !it.drop, it.sub
	}
	return lv.all && !lv.none, nil
}

// unquote decodes a JSON string known to be valid.
func unquote(q []byte) string {
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1])
	}
	var s string
	_ = json.Unmarshal(q, &s) // valid: checked by json.Compact
	return s
}

// skipString returns the offset just past the string starting at v[i].
func skipString(v []byte, i int) int {
	for i++; ; i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// skipValue returns the offset just past the compact value starting at v[i].
func skipValue(v []byte, i int) int {
	switch v[i] {
	case '"':
		return skipString(v, i)
	case '{', '[':
		depth := 0
		for {
			switch v[i] {
			case '"':
				i = skipString(v, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
	default:
		for i < len(v) && v[i] != ',' && v[i] != '}' && v[i] != ']' {
			i++
		}
		return i
	}
}
