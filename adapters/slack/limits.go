package slack

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"

	slackapi "github.com/slack-go/slack"

	"github.com/herald-ci/herald/internal/notify"
	"github.com/herald-ci/herald/templates"
)

// Block Kit limits, from Slack's reference
// (https://docs.slack.dev/reference/block-kit/blocks and .../composition-objects
// and .../block-elements). Slack counts characters; lengths here are counted
// in UTF-16 code units, which is never less than the number of code points,
// so a text that fits here fits whichever way Slack counts.
const (
	maxBlocks         = 50    // per message
	maxHeaderText     = 150   // header: plain_text
	maxSectionText    = 3000  // section text
	maxFields         = 10    // section fields
	maxFieldText      = 2000  // each field
	maxContextElems   = 10    // context elements
	maxActionElems    = 25    // actions elements
	maxButtonText     = 75    // button text, plain_text
	maxButtonLabel    = 75    // button accessibility_label
	maxButtonValue    = 2000  // button value
	maxURL            = 3000  // button url, image_url
	maxTextObject     = 3000  // any text object
	maxAltText        = 2000  // image alt_text and title
	maxMarkdownText   = 12000 // markdown block
	maxBlockID        = 255   // block_id
	maxActionID       = 255   // action_id
	maxMessageText    = 40000 // top-level text: Slack truncates longer ones
	ellipsis          = "…"
	moreBlocksMessage = "… %d more blocks not shown"
)

// fit changes m in place so that Slack accepts it: every text within its
// limit (cut visibly with "…"), no empty text objects or blocks, at most 50
// blocks, unique ids, valid colours and button URLs, and a top-level text
// (fallback when the template gave none).
func fit(m *message, fallback string) {
	m.Text = fitMrkdwn(m.Text, maxMessageText)
	if strings.TrimSpace(m.Text) == "" {
		m.Text = fitMrkdwn(fallback, maxMessageText)
	}

	lists := []*[]slackapi.Block{}
	if m.Blocks != nil {
		lists = append(lists, &m.Blocks.BlockSet)
	}
	for i := range m.Attachments {
		if m.Attachments[i].Blocks != nil {
			lists = append(lists, &m.Attachments[i].Blocks.BlockSet)
		}
	}
	for _, l := range lists {
		*l = fitBlocks(*l)
	}
	capBlocks(lists)
	uniqueBlockIDs(lists)

	if m.Blocks != nil && len(m.Blocks.BlockSet) == 0 {
		m.Blocks = nil
	}
	kept := m.Attachments[:0]
	for _, a := range m.Attachments {
		if a.Blocks != nil && len(a.Blocks.BlockSet) == 0 {
			a.Blocks = nil
		}
		if !validColor(a.Color) {
			a.Color = ""
		}
		if a.Blocks == nil && !hasLegacyContent(a.Attachment) {
			continue
		}
		kept = append(kept, a)
	}
	m.Attachments = kept
	if len(m.Attachments) == 0 {
		m.Attachments = nil
	}
}

// fitBlocks fits each block and drops the ones left empty.
func fitBlocks(blocks []slackapi.Block) []slackapi.Block {
	out := blocks[:0]
	for _, b := range blocks {
		if fitBlock(b) {
			out = append(out, b)
		}
	}
	return out
}

// fitBlock fits one block and reports whether it is still worth sending.
func fitBlock(b slackapi.Block) bool {
	switch b := b.(type) {
	case *slackapi.HeaderBlock:
		if b.Text == nil {
			return false
		}
		b.Text.Type = slackapi.PlainTextType
		b.Level = 0
		return fitTextObject(b.Text, maxHeaderText)
	case *slackapi.SectionBlock:
		if b.Text != nil && !fitTextObject(b.Text, maxSectionText) {
			b.Text = nil
		}
		b.Fields = fitFields(b.Fields)
		if b.Accessory != nil && !fitAccessory(b.Accessory) {
			b.Accessory = nil
		}
		return b.Text != nil || len(b.Fields) > 0
	case *slackapi.ContextBlock:
		b.ContextElements.Elements = fitContext(b.ContextElements.Elements)
		return len(b.ContextElements.Elements) > 0
	case *slackapi.ActionBlock:
		if b.Elements == nil {
			return false
		}
		b.Elements.ElementSet = fitActions(b.Elements.ElementSet)
		return len(b.Elements.ElementSet) > 0
	case *slackapi.ImageBlock:
		if b.Title != nil {
			b.Title.Type = slackapi.PlainTextType
			if !fitTextObject(b.Title, maxAltText) {
				b.Title = nil
			}
		}
		b.AltText = fitPlain(strings.TrimSpace(b.AltText), maxAltText)
		if b.AltText == "" {
			b.AltText = "image"
		}
		return b.SlackFile != nil || (validURL(b.ImageURL) && textLen(b.ImageURL) <= maxURL)
	case *slackapi.MarkdownBlock:
		b.Text = fitMrkdwn(b.Text, maxMarkdownText)
		return strings.TrimSpace(b.Text) != ""
	}
	return true // divider, rich_text
}

// fitTextObject fits t's text to n and fixes its type's options; false when
// nothing is left to show.
func fitTextObject(t *slackapi.TextBlockObject, n int) bool {
	if t == nil {
		return false
	}
	switch t.Type {
	case slackapi.PlainTextType:
		t.Verbatim = false
		t.Text = fitPlain(t.Text, n)
	default:
		t.Type = slackapi.MarkdownType
		t.Emoji = nil
		t.Text = fitMrkdwn(t.Text, n)
	}
	// Only after cleaning: a text of control characters alone is empty
	// then, and Slack refuses an empty text object.
	return strings.TrimSpace(t.Text) != ""
}

// fitFields keeps non-empty fields, each within its limit; past ten, the
// last one says how many were left out.
func fitFields(fields []*slackapi.TextBlockObject) []*slackapi.TextBlockObject {
	out := fields[:0]
	for _, f := range fields {
		if fitTextObject(f, maxFieldText) {
			out = append(out, f)
		}
	}
	if len(out) > maxFields {
		more := len(out) - (maxFields - 1)
		out = append(out[:maxFields-1], slackapi.NewTextBlockObject(slackapi.MarkdownType, fmt.Sprintf("_… and %d more_", more), false, false))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// fitContext keeps non-empty text and complete image elements; past ten,
// the last one is "…".
func fitContext(elems []slackapi.MixedElement) []slackapi.MixedElement {
	out := elems[:0]
	for _, e := range elems {
		switch e := e.(type) {
		case *slackapi.TextBlockObject:
			if fitTextObject(e, maxTextObject) {
				out = append(out, e)
			}
		case *slackapi.ImageBlockElement:
			e.AltText = fitPlain(e.AltText, maxAltText)
			if (e.SlackFile != nil || (e.ImageURL != nil && validURL(*e.ImageURL))) && strings.TrimSpace(e.AltText) != "" {
				out = append(out, e)
			}
		}
	}
	if len(out) > maxContextElems {
		out = append(out[:maxContextElems-1], slackapi.NewTextBlockObject(slackapi.MarkdownType, ellipsis, false, false))
	}
	return out
}

// fitActions fits buttons (dropping those that cannot work from a webhook
// message: no text, or no valid URL), keeps at most 25 elements and makes
// action ids unique within the block.
func fitActions(elems []slackapi.BlockElement) []slackapi.BlockElement {
	out := elems[:0]
	seen := map[string]bool{}
	for _, e := range elems {
		if btn, ok := e.(*slackapi.ButtonBlockElement); ok && !fitButton(btn) {
			continue
		}
		if id := actionID(e); id != nil {
			*id = uniqueID(seen, *id)
		}
		out = append(out, e)
	}
	if len(out) > maxActionElems {
		out = out[:maxActionElems]
	}
	return out
}

// actionID points at e's action_id when e is an element that has one we
// manage.
func actionID(e slackapi.BlockElement) *string {
	switch e := e.(type) {
	case *slackapi.ButtonBlockElement:
		return &e.ActionID
	case *slackapi.OverflowBlockElement:
		return &e.ActionID
	case *slackapi.SelectBlockElement:
		return &e.ActionID
	case *slackapi.DatePickerBlockElement:
		return &e.ActionID
	}
	return nil
}

// uniqueID returns id, cut to 255, or id_2, id_3... when seen already.
func uniqueID(seen map[string]bool, id string) string {
	if id == "" {
		return ""
	}
	id = cutUnits(id, maxActionID)
	base := cutUnits(id, maxActionID-4)
	for n := 2; seen[id]; n++ {
		id = fmt.Sprintf("%s_%d", base, n)
	}
	seen[id] = true
	return id
}

// fitButton fits a link button; false when it has no text or no usable URL.
func fitButton(b *slackapi.ButtonBlockElement) bool {
	if b.Text == nil {
		return false
	}
	b.Text.Type = slackapi.PlainTextType
	if !fitTextObject(b.Text, maxButtonText) {
		return false
	}
	b.URL = urlReplacer.Replace(strings.TrimSpace(b.URL))
	if !validURL(b.URL) || textLen(b.URL) > maxURL {
		return false
	}
	if b.Style != slackapi.StylePrimary && b.Style != slackapi.StyleDanger {
		b.Style = slackapi.StyleDefault
	}
	b.Value = fitPlain(b.Value, maxButtonValue)
	b.AccessibilityLabel = fitPlain(b.AccessibilityLabel, maxButtonLabel)
	return true
}

// fitAccessory fits a section's accessory; false drops it.
func fitAccessory(a *slackapi.Accessory) bool {
	switch {
	case a.UnknownElement != nil:
		return false
	case a.ButtonElement != nil:
		return fitButton(a.ButtonElement)
	case a.ImageElement != nil:
		e := a.ImageElement
		if e.SlackFile == nil && (e.ImageURL == nil || !validURL(*e.ImageURL)) {
			return false
		}
		e.AltText = fitPlain(strings.TrimSpace(e.AltText), maxAltText)
		if e.AltText == "" {
			e.AltText = "image"
		}
	}
	return true
}

// capBlocks keeps at most 50 blocks across the message's block lists (top
// level, then each attachment). When some must go, 49 are kept and a
// context block says how many were left out.
func capBlocks(lists []*[]slackapi.Block) {
	total := 0
	for _, l := range lists {
		total += len(*l)
	}
	if total <= maxBlocks {
		return
	}
	budget := maxBlocks - 1
	marked := false
	for _, l := range lists {
		switch {
		case len(*l) <= budget:
			budget -= len(*l)
		case !marked:
			*l = append((*l)[:budget], moreBlocks(total-(maxBlocks-1)))
			budget, marked = 0, true
		default:
			*l = (*l)[:0]
		}
	}
}

func moreBlocks(n int) slackapi.Block {
	return slackapi.NewContextBlock("", slackapi.NewTextBlockObject(slackapi.MarkdownType, fmt.Sprintf(moreBlocksMessage, n), false, false))
}

// uniqueBlockIDs drops block ids that are too long or repeat an earlier one.
func uniqueBlockIDs(lists []*[]slackapi.Block) {
	seen := map[string]bool{}
	for _, l := range lists {
		for _, b := range *l {
			id := blockID(b)
			if id == nil || *id == "" {
				continue
			}
			if seen[*id] || textLen(*id) > maxBlockID {
				*id = ""
				continue
			}
			seen[*id] = true
		}
	}
}

func blockID(b slackapi.Block) *string {
	switch b := b.(type) {
	case *slackapi.HeaderBlock:
		return &b.BlockID
	case *slackapi.SectionBlock:
		return &b.BlockID
	case *slackapi.ContextBlock:
		return &b.BlockID
	case *slackapi.ActionBlock:
		return &b.BlockID
	case *slackapi.DividerBlock:
		return &b.BlockID
	case *slackapi.ImageBlock:
		return &b.BlockID
	case *slackapi.MarkdownBlock:
		return &b.BlockID
	case *slackapi.RichTextBlock:
		return &b.BlockID
	}
	return nil
}

// hasLegacyContent reports whether an attachment without blocks still shows
// something.
func hasLegacyContent(a slackapi.Attachment) bool {
	return a.Text != "" || a.Title != "" || a.Pretext != "" || len(a.Fields) > 0 ||
		a.ImageURL != "" || a.AuthorName != "" || a.Footer != "" || a.Fallback != ""
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// validColor accepts Slack's named colours and #RRGGBB.
func validColor(c string) bool {
	switch c {
	case "", "good", "warning", "danger":
		return true
	}
	return hexColor.MatchString(c)
}

// urlReplacer percent-encodes the characters a sender may leave raw in a
// URL but Slack's URL fields reject or its mrkdwn reads as markup.
var urlReplacer = strings.NewReplacer(" ", "%20", `"`, "%22", "<", "%3C", ">", "%3E", "|", "%7C", "`", "%60", "{", "%7B", "}", "%7D", "\\", "%5C")

// validURL accepts absolute http and https URLs: what a link button can open.
func validURL(s string) bool {
	_, ok := notify.HTTPURL(s)
	return ok
}

// textLen is s's length in UTF-16 code units.
func textLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// cutUnits is the longest prefix of s of at most n UTF-16 code units that
// does not split a character.
func cutUnits(s string, n int) string {
	used := 0
	for i, r := range s {
		l := utf16.RuneLen(r)
		if l < 0 {
			l = 1 // invalid UTF-8 reads as U+FFFD
		}
		if used+l > n {
			return s[:i]
		}
		used += l
	}
	return s
}

// fitPlain cuts plain text to n code units, the last being "…", after
// removing control characters (templates.Clean).
func fitPlain(s string, n int) string {
	s = templates.Clean(s)
	if textLen(s) <= n {
		return s
	}
	return cutUnits(s, n-1) + ellipsis
}

var partialEntity = regexp.MustCompile(`&[a-z]{0,3}$`)

// fitMrkdwn cuts mrkdwn to n code units without leaving half of an escape
// (&amp;), an unclosed link or mention (<...), or an unclosed ``` block,
// after removing control characters (templates.Clean).
func fitMrkdwn(s string, n int) string {
	s = templates.Clean(s)
	if textLen(s) <= n {
		return s
	}
	const fence = "\n```"
	cut := cleanCut(s, n-1) // room for "…", one unit
	if strings.Count(cut, "```")%2 == 1 {
		cut = cleanCut(s, n-1-len(fence)) + ellipsis
		if strings.Count(cut, "```")%2 == 1 {
			cut += fence
		}
		return cut
	}
	return cut + ellipsis
}

// cleanCut is s cut to n units, less any half escape or unclosed <...>.
func cleanCut(s string, n int) string {
	cut := partialEntity.ReplaceAllString(cutUnits(s, n), "")
	if i := strings.LastIndexByte(cut, '<'); i >= 0 && i > strings.LastIndexByte(cut, '>') {
		cut = cut[:i]
	}
	return cut
}
