package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one process the driver started: the sink, the relay or herald.
type proc struct {
	name   string
	cmd    *exec.Cmd
	start  time.Time // just before exec
	log    *os.File
	exited chan struct{}

	mu      sync.Mutex
	samples []rssSample
	stopSmp chan struct{}
	smpDone chan struct{}
}

type rssSample struct {
	at  time.Duration // since start
	rss int64         // kB
}

// startProc runs bin with args in dir, its output to logPath.
func startProc(name, bin, dir, logPath string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so an interrupted driver's ^C does not reach it
	// before the driver stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{name: name, cmd: cmd, log: f, exited: make(chan struct{})}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// waitReady polls url every millisecond until it answers 200 and returns
// the time since exec: "ready within N ms of start".
func (p *proc) waitReady(url string, limit time.Duration) (time.Duration, error) {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := p.start.Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(p.start), nil
			}
		}
		select {
		case <-p.exited:
			return 0, fmt.Errorf("%s exited before it was ready; see %s", p.name, p.log.Name())
		case <-time.After(time.Millisecond):
		}
	}
	return 0, fmt.Errorf("%s not ready after %s; see %s", p.name, limit, p.log.Name())
}

// sampleRSS records VmRSS every interval until stopSampling.
func (p *proc) sampleRSS(interval time.Duration) {
	p.stopSmp, p.smpDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.smpDone)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if st, err := readStatus(p.pid()); err == nil {
				p.mu.Lock()
				p.samples = append(p.samples, rssSample{at: time.Since(p.start), rss: st.rss})
				p.mu.Unlock()
			}
			select {
			case <-t.C:
			case <-p.stopSmp:
				return
			case <-p.exited:
				return
			}
		}
	}()
}

func (p *proc) stopSampling() []rssSample {
	if p.stopSmp != nil {
		close(p.stopSmp)
		<-p.smpDone
		p.stopSmp = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]rssSample(nil), p.samples...)
}

// stop sends SIGTERM, waits up to grace for a clean exit, then SIGKILLs.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(grace):
			fmt.Fprintf(os.Stderr, "driver: %s did not stop within %s; killing it\n", p.name, grace)
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
	p.log.Close()
}

// procStatus is what /proc/PID/status says of memory, in kB.
type procStatus struct {
	rss, hwm int64 // VmRSS now, VmHWM: the peak resident set since exec
	anon     int64 // RssAnon: the part of VmRSS that is not the binary's (or other files') pages
}

func readStatus(pid int) (procStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	var st procStatus
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, _ := strconv.ParseInt(f[0], 10, 64)
		switch name {
		case "VmRSS":
			st.rss = v
		case "VmHWM":
			st.hwm = v
		case "RssAnon":
			st.anon = v
		}
	}
	if st.hwm == 0 {
		return st, errors.New("no VmHWM in /proc status")
	}
	return st, nil
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// It is 100 on every Linux the Go runtime supports (getconf CLK_TCK); reading
// it needs sysconf, i.e. cgo, which the driver avoids.
const clockTicks = 100

// readCPU returns the process's user+system CPU time: every thread, all
// its life so far, at 10 ms resolution.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ")": state is field 3, so utime (14) and stime (15) are f[11], f[12].
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// readWriteBytes is /proc/PID/io write_bytes: what the process caused to be
// written to storage (SQLite's WAL and database file, the log file).
func readWriteBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "write_bytes:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return -1
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before ours binds it; on a bench machine that does not happen.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
