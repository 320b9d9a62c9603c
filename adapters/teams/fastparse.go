package teams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// fastParse reads b, which json.Valid accepted, into a node tree without
// encoding/json's tokenizer, which allocates for every token (a card has
// hundreds). It gives exactly what parseTokens gives for valid JSON:
//
//   - a string without escapes and of valid UTF-8 decodes to itself, and
//     is taken as a substring of one copy of b; any other string is decoded
//     by encoding/json itself;
//   - numbers are kept as written (parseTokens' UseNumber), true, false
//     and null as literals;
//   - the same checks, in the same order: depth on entering each value,
//     a repeated key before its value.
//
// Since b is valid, the scanner needs no syntax checks of its own.
//
// Allocation: nodes, keys and child lists are carved from a few large
// slabs rather than allocated one by one (a card has hundreds of values).
// Each object's keys and values are collected on a stack while its
// children parse, then copied to a slab segment of exactly their length;
// segments are capped (three-index slices), so that fit and
// checkMessageCard appending to a list reallocate it rather than write
// over a neighbour's.
func fastParse(b []byte) (*node, error) {
	p := fastParser{s: string(b)}
	// At most one value per separator or container start, plus the root:
	// an estimate that strings holding commas only inflate.
	p.estimate = 1 + bytes.Count(b, []byte{','}) + bytes.Count(b, []byte{'{'}) + bytes.Count(b, []byte{'['})
	return p.value(0)
}

type fastParser struct {
	s string
	i int

	estimate int      // about how many values s holds
	nodes    []node   // slab of unused nodes
	keySlab  []string // slab for objects' keys
	valSlab  []*node  // slab for objects' values and arrays' items
	keys     []string // keys of the objects being parsed, innermost last
	vals     []*node  // values of the containers being parsed
}

// slabChunk bounds each slab allocation: an estimate inflated by commas
// in strings wastes at most this many elements.
const slabChunk = 256

func (p *fastParser) chunk(need int) int { return max(need, min(p.estimate, slabChunk)) }

// newNode returns a zero node of the slab.
func (p *fastParser) newNode(kind byte) *node {
	if len(p.nodes) == 0 {
		p.nodes = make([]node, p.chunk(1))
	}
	n := &p.nodes[0]
	p.nodes = p.nodes[1:]
	n.kind = kind
	return n
}

// takeKeys moves the keys above start on the stack to a slab segment.
func (p *fastParser) takeKeys(start int) []string {
	k := len(p.keys) - start
	if k == 0 {
		return nil
	}
	if len(p.keySlab) < k {
		p.keySlab = make([]string, p.chunk(k))
	}
	seg := p.keySlab[:k:k]
	p.keySlab = p.keySlab[k:]
	copy(seg, p.keys[start:])
	clear(p.keys[start:])
	p.keys = p.keys[:start]
	return seg
}

// takeVals moves the values above start on the stack to a slab segment.
func (p *fastParser) takeVals(start int) []*node {
	k := len(p.vals) - start
	if k == 0 {
		return nil
	}
	if len(p.valSlab) < k {
		p.valSlab = make([]*node, p.chunk(k))
	}
	seg := p.valSlab[:k:k]
	p.valSlab = p.valSlab[k:]
	copy(seg, p.vals[start:])
	clear(p.vals[start:])
	p.vals = p.vals[:start]
	return seg
}

func (p *fastParser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// smallObject is the number of keys up to which repeated keys are found by
// comparing with each earlier one; larger objects use a map.
const smallObject = 16

func (p *fastParser) value(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("invalid card: nested deeper than %d", maxDepth)
	}
	p.skipSpace()
	switch c := p.s[p.i]; c {
	case '{':
		p.i++
		n := p.newNode('o')
		p.skipSpace()
		if p.s[p.i] == '}' {
			p.i++
			return n, nil
		}
		keyStart, valStart := len(p.keys), len(p.vals)
		var seen map[string]bool
		for {
			p.skipSpace()
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			if repeated(p.keys[keyStart:], &seen, k) {
				return nil, fmt.Errorf("invalid card: key %q appears twice in one object", k)
			}
			p.skipSpace()
			p.i++ // ':'
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			p.keys = append(p.keys, k)
			p.vals = append(p.vals, v)
			p.skipSpace()
			if p.s[p.i] == ',' {
				p.i++
				continue
			}
			p.i++ // '}'
			n.keys, n.vals = p.takeKeys(keyStart), p.takeVals(valStart)
			return n, nil
		}
	case '[':
		p.i++
		n := p.newNode('a')
		p.skipSpace()
		if p.s[p.i] == ']' {
			p.i++
			return n, nil
		}
		start := len(p.vals)
		for {
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			p.vals = append(p.vals, v)
			p.skipSpace()
			if p.s[p.i] == ',' {
				p.i++
				continue
			}
			p.i++ // ']'
			n.vals = p.takeVals(start)
			return n, nil
		}
	case '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		n := p.newNode('s')
		n.str = s
		return n, nil
	case 't':
		p.i += len("true")
		return p.literal("true"), nil
	case 'f':
		p.i += len("false")
		return p.literal("false"), nil
	case 'n':
		p.i += len("null")
		return p.literal("null"), nil
	}
	start := p.i // a number
	for p.i < len(p.s) && strings.IndexByte("+-.0123456789eE", p.s[p.i]) >= 0 {
		p.i++
	}
	return p.literal(p.s[start:p.i]), nil
}

func (p *fastParser) literal(s string) *node {
	n := p.newNode('l')
	n.lit = s
	return n
}

// repeated reports whether k is among keys, and records it for the next
// call once there are more than smallObject of them.
func repeated(keys []string, seen *map[string]bool, k string) bool {
	if len(keys) < smallObject {
		for _, e := range keys {
			if e == k {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]bool, 2*len(keys))
		for _, e := range keys {
			(*seen)[e] = true
		}
	}
	if (*seen)[k] {
		return true
	}
	(*seen)[k] = true
	return false
}

// str reads the string starting at p.i (its opening quote) and returns its
// value.
func (p *fastParser) str() (string, error) {
	start := p.i
	plain := true
	p.i++
	for {
		c := p.s[p.i]
		if c == '"' {
			break
		}
		if c == '\\' {
			plain = false
			p.i += 2 // the escaped byte is never a quote that ends the string
			continue
		}
		p.i++
	}
	p.i++ // the closing quote
	raw := p.s[start+1 : p.i-1]
	if plain && utf8.ValidString(raw) {
		return raw, nil
	}
	var s string
	if err := json.Unmarshal([]byte(p.s[start:p.i]), &s); err != nil {
		return "", fmt.Errorf("invalid JSON: %w", err) // not reached: b is valid
	}
	return s, nil
}
