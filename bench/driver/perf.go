package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// perfRecording is `perf record` attached to herald. herald has no pprof
// endpoint and no profiling flag; perf samples any process from outside,
// and Go keeps frame pointers on amd64 and arm64, so -g call graphs work.
type perfRecording struct {
	out  string
	cmd  *exec.Cmd
	done chan error
}

// perfFrequency is the sampling rate: an odd number, so it does not beat
// with anything periodic (River's tickers, the 1 ms pacing).
const perfFrequency = 499

func startPerf(pid int, out string) (*perfRecording, error) {
	if _, err := exec.LookPath("perf"); err != nil {
		return nil, fmt.Errorf("-perf: perf is not installed (Debian: apt-get install linux-perf)")
	}
	log, err := os.Create(out + ".log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("perf", "record", "-F", strconv.Itoa(perfFrequency), "-g", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("-perf: %w", err)
	}
	p := &perfRecording{out: out, cmd: cmd, done: make(chan error, 1)}
	go func() {
		p.done <- cmd.Wait()
		log.Close()
	}()
	time.Sleep(200 * time.Millisecond) // let it attach before the load starts
	return p, nil
}

func (p *perfRecording) stop() error {
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		return fmt.Errorf("perf record did not stop; see %s.log", p.out)
	}
}

// perfLine is one symbol of `perf report`: inclusive (children) and
// exclusive (self) shares of the samples, in percent.
type perfLine struct {
	children, self float64
	sym            string
}

func perfReport(data string) ([]perfLine, error) {
	cmd := exec.Command("perf", "report", "-i", data, "--stdio", "--children", "--sort", "symbol", "-g", "none", "--percent-limit", "0.05")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("perf report: %w: %s", err, stderr.String())
	}
	if err := os.WriteFile(data+".txt", out, 0o644); err != nil {
		return nil, err
	}
	var lines []perfLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || strings.HasPrefix(f[0], "#") || !strings.HasSuffix(f[0], "%") {
			continue
		}
		c, err1 := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		s, err2 := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		if err1 != nil || err2 != nil {
			continue
		}
		// "[.] user symbol" or "[k] kernel symbol"; kernel ones keep the tag.
		tag, sym, ok := strings.Cut(sc.Text(), "] ")
		if !ok {
			continue
		}
		// Drop the IPC columns perf appends ("-  -" without LBR data).
		sym = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(sym), " -"))
		if strings.HasSuffix(tag, "[k") {
			sym = "[k] " + sym
		}
		lines = append(lines, perfLine{c, s, sym})
	}
	return lines, sc.Err()
}

// perfStages sort herald's samples: each sample goes to the first stage
// (in this order) with a frame containing its pattern, so the shares add
// up to 100% and a nested stage (River's job-state update inside herald's
// Complete) is counted once, where it is most specific.
var perfStages = []struct{ label, pattern string }{
	{"River: set job state (complete, snooze)", "JobSetStateIfRunningMany"},
	{"River: fetch jobs", "JobGetAvailable"},
	{"River: insert jobs", "JobInsertFastMany"},
	{"herald: route + render + Build", "internal/server.(*Server).render"},
	{"herald: decode", "sources/teamcity."},
	{"herald: Accept, rest (events, dedup, commit)", "internal/store.(*Store).Accept"},
	{"herald: Complete, rest (begin, commit)", "internal/store.(*Store).Complete"},
	{"herald: ingest, rest (body, answer, log)", "internal/server.(*Server).ingest"},
	{"delivery: Send (HTTP POST)", "internal/notify.Post"},
	{"delivery: worker, rest (gate, log)", "internal/delivery.(*Worker).Work"},
	{"River: other (producer, notifier, leader)", "github.com/riverqueue/"},
	{"GC background marking", "runtime.gcBgMarkWorker"},
	{"net/http server, rest", "net/http.(*conn).serve"},
	{"Go scheduler, idle", "runtime.schedule"},
	{"Go scheduler, idle", "runtime.mcall"},
	{"sysmon", "runtime.sysmon"},
}

// perfStacks reads the samples' call stacks with perf script.
func perfStacks(data string) ([][]string, error) {
	cmd := exec.Command("perf", "script", "-i", data, "-F", "comm,ip,sym")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("perf script: %w: %s", err, stderr.String())
	}
	var stacks [][]string
	var cur []string
	for line := range strings.Lines(string(out)) {
		switch {
		case strings.TrimSpace(line) == "":
		case line[0] != '\t' && line[0] != ' ': // "herald": a new sample
			if cur != nil {
				stacks = append(stacks, cur)
			}
			cur = []string{}
		default: // "\taddr symbol"
			f := strings.Fields(line)
			if len(f) >= 2 {
				cur = append(cur, strings.Join(f[1:], " "))
			}
		}
	}
	if cur != nil {
		stacks = append(stacks, cur)
	}
	return stacks, nil
}

// Packages whose exclusive (self) time is summed.
var perfPackages = []struct{ label, prefix string }{
	{"modernc.org/sqlite + libc (SQLite in Go)", "modernc.org/"},
	{"riverqueue", "github.com/riverqueue/"},
	{"text/template + sprig", "text/template"},
	{"encoding/json", "encoding/json"},
	{"runtime (GC, scheduler, malloc)", "runtime."},
	{"kernel", "[k]"},
	{"syscall", "syscall."},
	{"net/http", "net/http"},
	{"herald's own packages", "github.com/herald-ci/"},
}

// report prints where herald's CPU went.
func (p *perfRecording) report(w io.Writer) {
	lines, err := perfReport(p.out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		return
	}
	fmt.Fprintf(w, "\nherald CPU profile (perf, %d Hz, load + drain; full report in %s.txt):\n", perfFrequency, p.out)
	if stacks, err := perfStacks(p.out); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
	} else if len(stacks) > 0 {
		fmt.Fprintf(w, "  %d samples by stage (each counted once, in the first stage it matches):\n", len(stacks))
		count := map[string]int{}
		var order []string
		compiling := 0
		for _, st := range stacks {
			label := "other"
		stages:
			for _, sg := range perfStages {
				for _, f := range st {
					if strings.Contains(f, sg.pattern) {
						label = sg.label
						break stages
					}
				}
			}
			if count[label] == 0 {
				order = append(order, label)
			}
			count[label]++
			for _, f := range st {
				if strings.Contains(f, "prepareV2") {
					compiling++
					break
				}
			}
		}
		sort.SliceStable(order, func(i, j int) bool { return count[order[i]] > count[order[j]] })
		for _, l := range order {
			fmt.Fprintf(w, "    %-46s %5.1f%%\n", l, 100*float64(count[l])/float64(len(stacks)))
		}
		if compiling > 0 {
			fmt.Fprintf(w, "    (across stages, SQLite compiling SQL, sqlite3_prepare_v2: %.1f%%)\n", 100*float64(compiling)/float64(len(stacks)))
		}
	}
	fmt.Fprintln(w, "  exclusive share by package:")
	for _, pk := range perfPackages {
		sum := 0.0
		for _, l := range lines {
			if strings.HasPrefix(l.sym, pk.prefix) {
				sum += l.self
			}
		}
		fmt.Fprintf(w, "    %-38s %5.1f%%\n", pk.label, sum)
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].self > lines[j].self })
	fmt.Fprintln(w, "  top functions by exclusive share:")
	for i, l := range lines {
		if i == 15 {
			break
		}
		fmt.Fprintf(w, "    %5.1f%%  %s\n", l.self, l.sym)
	}
}

// fsyncCounter counts a process's fsync and fdatasync calls with
// `perf stat` on the syscall tracepoints: how many durable commits (and
// checkpoints) the store made. The relay makes none.
type fsyncCounter struct {
	out  string
	cmd  *exec.Cmd
	done chan error
}

func startFsyncCount(pid int, out string) *fsyncCounter {
	if _, err := exec.LookPath("perf"); err != nil {
		return nil
	}
	cmd := exec.Command("perf", "stat", "-x", ",", "-o", out,
		"-e", "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync", "-p", strconv.Itoa(pid))
	if err := cmd.Start(); err != nil {
		return nil
	}
	c := &fsyncCounter{out: out, cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	return c
}

// stop ends the count and returns it, or -1 when perf could not count
// (no tracepoints: not root, or perf_event_paranoid too high).
func (c *fsyncCounter) stop() int64 {
	if c == nil {
		return -1
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		return -1
	}
	b, err := os.ReadFile(c.out)
	if err != nil {
		return -1
	}
	n, found := int64(0), false
	for line := range strings.Lines(string(b)) {
		f := strings.Split(line, ",")
		if len(f) < 3 || !strings.Contains(line, "sys_enter_f") {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(f[0]), 10, 64)
		if err != nil {
			return -1 // "<not supported>" or "<not counted>"
		}
		n, found = n+v, true
	}
	if !found {
		return -1
	}
	return n
}
