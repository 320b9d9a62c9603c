package teamcity

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// The payload shapes: the parts of TeamCity's REST build and agent objects
// (teamcity-rest model/build/Build.java, model/agent/Agent.java) that herald
// maps. Everything is optional. Scalars are read leniently (text, number,
// flag): a number where a string was expected, or the reverse, is taken as
// it comes, so that a changed type in a field herald barely uses does not
// cost a notification. An object or array where a scalar belongs, or the
// reverse, is a wrong shape and rejects the body.

type build struct {
	ID                 text          `json:"id"`
	BuildTypeID        text          `json:"buildTypeId"`
	Number             text          `json:"number"`
	Status             text          `json:"status"`
	BranchName         text          `json:"branchName"`
	DefaultBranch      flag          `json:"defaultBranch"`
	FailedToStart      flag          `json:"failedToStart"`
	WebURL             text          `json:"webUrl"`
	StatusText         text          `json:"statusText"`
	WaitReason         text          `json:"waitReason"`
	PercentageComplete number        `json:"percentageComplete"`
	BuildType          buildType     `json:"buildType"`
	RunningInfo        runningInfo   `json:"running-info"`
	CanceledInfo       *canceledInfo `json:"canceledInfo"`
	QueuedDate         text          `json:"queuedDate"`
	StartDate          text          `json:"startDate"`
	FinishDate         text          `json:"finishDate"`
	Triggered          triggered     `json:"triggered"`
	LastChanges        lastChanges   `json:"lastChanges"`
	Changes            counted       `json:"changes"`
	Revisions          revisions     `json:"revisions"`
	Agent              agent         `json:"agent"`
	ProblemOccurrences counted       `json:"problemOccurrences"`
	TestOccurrences    tests         `json:"testOccurrences"`
}

type buildType struct {
	ID          text `json:"id"`
	Name        text `json:"name"`
	ProjectName text `json:"projectName"`
	ProjectID   text `json:"projectId"`
	WebURL      text `json:"webUrl"`
}

type runningInfo struct {
	PercentageComplete number `json:"percentageComplete"`
	ElapsedSeconds     number `json:"elapsedSeconds"`
}

type canceledInfo struct {
	Timestamp text  `json:"timestamp"`
	Text      text  `json:"text"`
	User      *user `json:"user"`
}

type user struct {
	Username text `json:"username"`
	Name     text `json:"name"`
}

type triggered struct {
	Type        text  `json:"type"`
	User        *user `json:"user"`
	DisplayText text  `json:"displayText"`
	Details     text  `json:"details"`
}

type lastChanges struct {
	Count  number   `json:"count"`
	Change []change `json:"change"`
}

type change struct {
	Version  text `json:"version"`
	Username text `json:"username"`
	Comment  text `json:"comment"`
	WebURL   text `json:"webUrl"`
}

type revisions struct {
	Revision []struct {
		Version text `json:"version"`
	} `json:"revision"`
}

type counted struct {
	Count number `json:"count"`
}

type tests struct {
	Count     number `json:"count"`
	Passed    number `json:"passed"`
	Failed    number `json:"failed"`
	NewFailed number `json:"newFailed"`
	Ignored   number `json:"ignored"`
	Muted     number `json:"muted"`
}

// agent is both the whole payload of an agent event and the short agent
// reference inside a build.
type agent struct {
	ID         text `json:"id"`
	Name       text `json:"name"`
	Connected  flag `json:"connected"`
	Enabled    flag `json:"enabled"`
	Authorized flag `json:"authorized"`
	IP         text `json:"ip"`
	Host       text `json:"host"`
	WebURL     text `json:"webUrl"`
	Pool       struct {
		Name text `json:"name"`
	} `json:"pool"`
}

// text is a JSON scalar read as a string: a string as is, a number or a
// boolean in its JSON spelling, null as "".
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case b[0] == '{' || b[0] == '[':
		return shapeError(b, reflect.TypeFor[string]())
	case string(b) == "null":
	default: // number, true, false
		*t = text(b)
	}
	return nil
}

// number is a JSON scalar read as an integer: a number (truncated toward
// zero, clamped to the int range), a string holding one, anything else 0.
type number int64

func (n *number) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		return nil
	case b[0] == '{' || b[0] == '[':
		return shapeError(b, reflect.TypeFor[int64]())
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = parseNumber(strings.TrimSpace(s))
	default:
		*n = parseNumber(string(b))
	}
	return nil
}

func parseNumber(s string) number {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return number(clampInt(i))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRange(err) || math.IsNaN(f) {
		return 0
	}
	f = math.Trunc(f)
	switch {
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return number(f)
}

// clampInt keeps counts within 32 bits, so that converting them to int is
// safe everywhere and arithmetic on them cannot overflow.
func clampInt(i int64) int64 {
	return min(max(i, math.MinInt32), math.MaxInt32)
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// flag is a JSON scalar read as a boolean: true, or the string "true" in
// any case; anything else is false.
type flag bool

func (f *flag) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		return nil
	case b[0] == '{' || b[0] == '[':
		return shapeError(b, reflect.TypeFor[bool]())
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flag(strings.EqualFold(strings.TrimSpace(s), "true"))
	default:
		*f = flag(bytes.Equal(b, []byte("true")))
	}
	return nil
}

func shapeError(b []byte, t reflect.Type) error {
	v := "object"
	if b[0] == '[' {
		v = "array"
	}
	return &json.UnmarshalTypeError{Value: v, Type: t}
}
