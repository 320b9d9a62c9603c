package teamcity

import "github.com/herald-ci/herald/sources/internal/lenient"

// The payload shapes: the parts of TeamCity's REST build and agent objects
// (teamcity-rest model/build/Build.java, model/agent/Agent.java) that herald
// maps. Everything is optional. Scalars are read leniently (package
// lenient): a number where a string was expected, or the reverse, is taken
// as it comes, so that a changed type in a field herald barely uses does
// not cost a notification. An object or array where a scalar belongs, or
// the reverse, is a wrong shape and rejects the body. Numbers are read as
// lenient.Int32, so that converting them to int is safe everywhere and
// arithmetic on them cannot overflow.

type build struct {
	ID                 lenient.Text  `json:"id"`
	BuildTypeID        lenient.Text  `json:"buildTypeId"`
	Number             lenient.Text  `json:"number"`
	Status             lenient.Text  `json:"status"`
	BranchName         lenient.Text  `json:"branchName"`
	DefaultBranch      lenient.Flag  `json:"defaultBranch"`
	FailedToStart      lenient.Flag  `json:"failedToStart"`
	WebURL             lenient.Text  `json:"webUrl"`
	StatusText         lenient.Text  `json:"statusText"`
	WaitReason         lenient.Text  `json:"waitReason"`
	PercentageComplete lenient.Int32 `json:"percentageComplete"`
	BuildType          buildType     `json:"buildType"`
	RunningInfo        runningInfo   `json:"running-info"`
	CanceledInfo       *canceledInfo `json:"canceledInfo"`
	QueuedDate         lenient.Text  `json:"queuedDate"`
	StartDate          lenient.Text  `json:"startDate"`
	FinishDate         lenient.Text  `json:"finishDate"`
	Triggered          triggered     `json:"triggered"`
	LastChanges        lastChanges   `json:"lastChanges"`
	Changes            counted       `json:"changes"`
	Revisions          revisions     `json:"revisions"`
	Agent              agent         `json:"agent"`
	ProblemOccurrences counted       `json:"problemOccurrences"`
	TestOccurrences    tests         `json:"testOccurrences"`
}

type buildType struct {
	ID          lenient.Text `json:"id"`
	Name        lenient.Text `json:"name"`
	ProjectName lenient.Text `json:"projectName"`
	ProjectID   lenient.Text `json:"projectId"`
	WebURL      lenient.Text `json:"webUrl"`
}

type runningInfo struct {
	PercentageComplete lenient.Int32 `json:"percentageComplete"`
	ElapsedSeconds     lenient.Int32 `json:"elapsedSeconds"`
}

type canceledInfo struct {
	Timestamp lenient.Text `json:"timestamp"`
	Text      lenient.Text `json:"text"`
	User      *user        `json:"user"`
}

type user struct {
	Username lenient.Text `json:"username"`
	Name     lenient.Text `json:"name"`
}

type triggered struct {
	Type        lenient.Text `json:"type"`
	User        *user        `json:"user"`
	DisplayText lenient.Text `json:"displayText"`
	Details     lenient.Text `json:"details"`
}

type lastChanges struct {
	Count  lenient.Int32 `json:"count"`
	Change []change      `json:"change"`
}

type change struct {
	Version  lenient.Text `json:"version"`
	Username lenient.Text `json:"username"`
	Comment  lenient.Text `json:"comment"`
	WebURL   lenient.Text `json:"webUrl"`
}

type revisions struct {
	Revision []struct {
		Version lenient.Text `json:"version"`
	} `json:"revision"`
}

type counted struct {
	Count lenient.Int32 `json:"count"`
}

type tests struct {
	Count     lenient.Int32 `json:"count"`
	Passed    lenient.Int32 `json:"passed"`
	Failed    lenient.Int32 `json:"failed"`
	NewFailed lenient.Int32 `json:"newFailed"`
	Ignored   lenient.Int32 `json:"ignored"`
	Muted     lenient.Int32 `json:"muted"`
}

// agent is both the whole payload of an agent event and the short agent
// reference inside a build.
type agent struct {
	ID         lenient.Text `json:"id"`
	Name       lenient.Text `json:"name"`
	Connected  lenient.Flag `json:"connected"`
	Enabled    lenient.Flag `json:"enabled"`
	Authorized lenient.Flag `json:"authorized"`
	IP         lenient.Text `json:"ip"`
	Host       lenient.Text `json:"host"`
	WebURL     lenient.Text `json:"webUrl"`
	Pool       struct {
		Name lenient.Text `json:"name"`
	} `json:"pool"`
}
