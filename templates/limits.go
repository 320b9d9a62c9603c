package templates

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"text/template"
	"text/template/parse"
	"time"
)

// The bounds of one rendering. A template is code an operator wrote, run on
// text a sender wrote, on a delivery worker: whatever either holds, a
// rendering must end soon and small, with an error that says why (issue 6),
// and the adapter then sends the default instead (WithFallback).
//
// text/template cannot be interrupted, so the bounds are checked where every
// rendering passes often: in the writer, limitedBuffer.
//
//   - Size: the writer fails past MaxOutput bytes.
//   - Time: the writer fails once the rendering is older than MaxRenderTime.
//     That catches a template that never writes too, because guard makes
//     every template call and every range iteration write, if only nothing.
//     Those are text/template's only ways to repeat work: range (over data,
//     over a number, {{ range 1000000000 }}, which text/template accepts
//     since Go 1.22, or over an iterator) and template calls (recursion).
//     include renders through a writer of its own with the same deadline.
//     Between two writes a template does a bounded amount of work: the
//     functions it may call work in time linear in their arguments, and the
//     unbounded ones (sprig's until, seq, repeat, ...) are not defined
//     (forbidden, funcs.go).
//   - Recursion: text/template stops at 100000 nested template calls
//     (measured: about 0.1 s and 64 MB of stack, within the time bound);
//     include, which starts a new execution, and so a new count, is held to
//     maxIncludeDepth.
//
// Not bounded: memory a template builds without writing it. A string
// doubled on each iteration of a range ({{ $s = cat $s $s }}) reaches a
// gigabyte in 30 iterations, well within the time bound. Only an operator's
// template can do that (event text is data, never template code); `herald
// render` and the sample events a reload renders before it takes a
// configuration are where it shows.
const (
	// MaxOutput bounds what one rendering writes: 1 MiB, far above any
	// platform's message limit (Slack 40,000 characters of text, Teams
	// 28 KB), so only a runaway template reaches it.
	MaxOutput = 1 << 20

	// MaxRenderTime bounds one rendering, includes and all. The defaults
	// render in well under a millisecond (BenchmarkRender); two seconds is
	// room for a large user template on a busy host, and still short of a
	// destination's timeout (10 s by default), so a rendering that hits it
	// leaves time to send the default.
	MaxRenderTime = 2 * time.Second

	// maxIncludeDepth bounds includes within includes. The defaults nest
	// one deep (slack.build.message includes slack.build.title); a chain
	// deeper than this is a template including itself.
	maxIncludeDepth = 16
)

var (
	// ErrTooLarge is returned when a template writes more than MaxOutput.
	ErrTooLarge = errors.New("template output exceeds the size limit")
	// ErrTooSlow is returned when a rendering takes more than MaxRenderTime.
	ErrTooSlow = errors.New("template rendering exceeds the time limit")
)

// limitedBuffer is the writer of one rendering (or one include): it fails
// the rendering past MaxOutput bytes or past its deadline. The errors name
// the template: text/template returns a writer's error as it is.
type limitedBuffer struct {
	bytes.Buffer
	name     string
	deadline time.Time
}

// bufferPool holds limitedBuffers between renderings: a rendering grows
// its buffer to the message's size (several KB, a dozen reallocations from
// empty), and the next one can start from there. Render and include copy
// the output out before the buffer goes back, so nothing a caller holds
// ever aliases a pooled buffer. Buffers grown past maxPooledBuffer (a
// runaway template near MaxOutput) are left to the garbage collector.
var bufferPool = sync.Pool{New: func() any { return new(limitedBuffer) }}

const maxPooledBuffer = 64 << 10

// getBuffer returns an empty buffer for one rendering of template name.
func getBuffer(name string, deadline time.Time) *limitedBuffer {
	w := bufferPool.Get().(*limitedBuffer)
	w.name, w.deadline = name, deadline
	return w
}

// putBuffer returns w to the pool; w must not be used after.
func putBuffer(w *limitedBuffer) {
	if w.Cap() > maxPooledBuffer {
		return
	}
	w.Reset()
	w.name = ""
	bufferPool.Put(w)
}

func (w *limitedBuffer) check(n int) error {
	if w.Len()+n > MaxOutput {
		return fmt.Errorf("%s: %w of %d bytes", w.name, ErrTooLarge, MaxOutput)
	}
	if time.Now().After(w.deadline) {
		return fmt.Errorf("%s: %w of %s", w.name, ErrTooSlow, MaxRenderTime)
	}
	return nil
}

func (w *limitedBuffer) Write(p []byte) (int, error) {
	if err := w.check(len(p)); err != nil {
		return 0, err
	}
	return w.Buffer.Write(p)
}

// WriteString keeps the bounds for text/template's string writes.
func (w *limitedBuffer) WriteString(s string) (int, error) {
	if err := w.check(len(s)); err != nil {
		return 0, err
	}
	return w.Buffer.WriteString(s)
}

// tick is the node guard puts first in template bodies and range bodies: a
// text of nothing, which text/template still hands to the writer, so that
// the writer checks the deadline. One node serves everywhere: executing a
// template only reads its tree.
var tick = &parse.TextNode{NodeType: parse.NodeText, Text: []byte{}}

// guard puts a tick at the start of every template of t and of every range
// body in them (see the bounds above). Trees that already start with one
// are left alone: the defaults' trees are shared by every set cloned from
// them and may be executing.
func guard(t *template.Template) {
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		if root := tt.Tree.Root; len(root.Nodes) == 0 || root.Nodes[0] != parse.Node(tick) {
			guardList(root, true)
		}
	}
}

func guardList(l *parse.ListNode, ticked bool) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.RangeNode:
			guardList(n.List, true)
			guardList(n.ElseList, false)
		case *parse.IfNode:
			guardList(n.List, false)
			guardList(n.ElseList, false)
		case *parse.WithNode:
			guardList(n.List, false)
			guardList(n.ElseList, false)
		}
	}
	if ticked {
		l.Nodes = append([]parse.Node{tick}, l.Nodes...)
	}
}
