package mark

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Body makes unique TeamCity events from one fixture: each has its own
// build number (the mark) and build id, so no two bodies hash alike and
// herald's dedup (same body within 10 minutes = one event) never merges
// two of them.
type Body struct {
	parts   [3][]byte // before the id, between id and mark, after the mark
	idFirst bool
}

// Placeholders written into the fixture and cut out again: each occurs
// exactly once in the re-encoded JSON.
const (
	numberHole = "@@HERALD_BENCH_NUMBER@@"
	idHole     = 918273645546372819
)

// NewBody prepares fixture, a TeamCity webhook body ({"eventType": ...,
// "payload": {build}}), for Append. The fixture is re-encoded compactly.
func NewBody(fixture []byte) (*Body, error) {
	var env map[string]any
	dec := json.NewDecoder(bytes.NewReader(fixture))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("fixture: %w", err)
	}
	payload, ok := env["payload"].(map[string]any)
	if !ok {
		return nil, errors.New("fixture: not a TeamCity webhook body (no payload object)")
	}
	payload["number"] = numberHole
	payload["id"] = json.Number(strconv.FormatUint(idHole, 10))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		return nil, err
	}
	out := bytes.TrimSpace(buf.Bytes())
	num := []byte(`"` + numberHole + `"`)
	id := []byte(strconv.FormatUint(idHole, 10))
	if bytes.Count(out, num) != 1 || bytes.Count(out, id) != 1 {
		return nil, errors.New("fixture: placeholder occurs more than once")
	}
	b := &Body{}
	in, ij := bytes.Index(out, num), bytes.Index(out, id)
	if ij < in {
		b.idFirst = true
		b.parts[0] = out[:ij]
		b.parts[1] = out[ij+len(id) : in]
		b.parts[2] = out[in+len(num):]
	} else {
		b.parts[0] = out[:in]
		b.parts[1] = out[in+len(num) : ij]
		b.parts[2] = out[ij+len(id):]
	}
	return b, nil
}

// Append appends the event of id: build number Format(id), build id the
// low 62 bits of id as a JSON number.
func (b *Body) Append(dst []byte, id uint64) []byte {
	number := func(dst []byte) []byte {
		dst = append(dst, '"')
		dst = Append(dst, id)
		return append(dst, '"')
	}
	buildID := func(dst []byte) []byte { return strconv.AppendUint(dst, id&(1<<62-1), 10) }
	dst = append(dst, b.parts[0]...)
	if b.idFirst {
		dst = buildID(dst)
		dst = append(dst, b.parts[1]...)
		dst = number(dst)
	} else {
		dst = number(dst)
		dst = append(dst, b.parts[1]...)
		dst = buildID(dst)
	}
	return append(dst, b.parts[2]...)
}
