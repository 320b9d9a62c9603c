package server

// Preview: see a message before a real build sends it.
//
//	POST /v1/preview/{source}[?destination=NAME]
//
// The body is an event as the source would post it. herald decodes it,
// and renders it for the named destination, or else for every destination
// that would get it, exactly as ingest would — the same templates, the same
// limits — but stores and sends nothing. Needs an API token of role reader.

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/event"
	"github.com/herald-ci/herald/internal/route"
	"github.com/herald-ci/herald/sources"
)

// Preview is the answer of POST /v1/preview/{source}.
type Preview struct {
	Event    string           `json:"event"` // <kind>.<status>
	Messages []PreviewMessage `json:"messages"`
}

// PreviewMessage is one destination's rendering.
type PreviewMessage struct {
	Destination string `json:"destination"`
	Type        string `json:"type"`
	// Subscribed is false when the destination was named but would not get
	// this event (its events or rules leave it out); it is still rendered.
	Subscribed  bool            `json:"subscribed"`
	ContentType string          `json:"content_type,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"` // the body itself when JSON, else a JSON string
	Error       string          `json:"error,omitempty"`   // why nothing could be built
}

func (s *Server) routePreview(e *echo.Echo) {
	e.POST("/v1/preview/:source", s.preview, s.requireRole(config.RoleReader))
}

func (s *Server) preview(c echo.Context) error {
	name := c.Param("source")
	dec, ok := sources.Lookup(name)
	if !ok {
		return fail(c, http.StatusNotFound, "unknown source; valid: "+strings.Join(sources.Names(), ", "))
	}
	if reason := checkContentType(c.Request().Header.Get("Content-Type")); reason != "" {
		return fail(c, http.StatusUnsupportedMediaType, reason)
	}
	rt := s.runtime.Load()
	body, err := readBody(c, rt.Config.SourceMaxBodyBytes(name))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fail(c, http.StatusRequestEntityTooLarge, "body exceeds the limit")
		}
		return fail(c, http.StatusBadRequest, "could not read the body")
	}
	if tooDeep(body, MaxJSONDepth) {
		return fail(c, http.StatusBadRequest, "JSON nested deeper than "+strconv.Itoa(MaxJSONDepth)+" levels")
	}
	ev, err := dec.Decode(body)
	switch {
	case errors.Is(err, event.ErrIgnored):
		return fail(c, http.StatusUnprocessableEntity, "herald ignores this event: "+err.Error())
	case err != nil:
		return fail(c, http.StatusBadRequest, badPayload(name, err))
	}

	wanted := map[string]bool{}
	for _, d := range route.Destinations(rt.Config, ev) {
		wanted[d.Name] = true
	}
	var targets []config.Destination
	if only := c.QueryParam("destination"); only != "" {
		i := destinationIndex(rt.Config, only)
		if i < 0 {
			return fail(c, http.StatusNotFound, "no destination of that name")
		}
		targets = []config.Destination{rt.Config.Destinations[i]}
	} else {
		for _, d := range rt.Config.Destinations {
			if wanted[d.Name] {
				targets = append(targets, d)
			}
		}
	}

	mask := s.masker()
	out := Preview{Event: ev.Name(), Messages: make([]PreviewMessage, 0, len(targets))}
	for _, d := range targets {
		m := PreviewMessage{Destination: d.Name, Type: d.Type, Subscribed: wanted[d.Name]}
		a, ok := rt.Adapters.Get(d.Name)
		if !ok {
			m.Error = "destination has no adapter"
			out.Messages = append(out.Messages, m)
			continue
		}
		p, err := a.Build(ev)
		if err != nil {
			m.Error = mask(err.Error())
		} else {
			m.ContentType = p.ContentType
			m.Payload = payloadJSON(mask(string(p.Body)))
		}
		out.Messages = append(out.Messages, m)
	}
	return c.JSON(http.StatusOK, out)
}

func destinationIndex(c *config.Config, name string) int {
	for i := range c.Destinations {
		if c.Destinations[i].Name == name {
			return i
		}
	}
	return -1
}
