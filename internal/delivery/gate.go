package delivery

import (
	"context"
	"sync"
	"time"
)

// A gate stands in front of one webhook URL. Every job for that URL passes
// it before its attempt; it decides when the attempt may start and, when
// that is not soon, hands the River worker back by telling the job to
// snooze. One gate serves every destination that posts to the URL.
//
// # Ordering
//
// Jobs wait in a queue ordered by River job id, which is the order their
// events were accepted. Only the head may start, and only when the rate
// limit, the in-flight bound, the circuit breaker and any Retry-After pause
// all allow it. A job that snoozes keeps its place: its ticket stays in the
// queue, marked absent, and the jobs behind it wait for it to come back
// (they would wait anyway: it is ahead of them). So the first attempts to a
// URL start in acceptance order, and rate tokens are spent at the moment a
// send starts, in that order, never reserved for later.
//
// Two gaps are closed explicitly:
//   - River starts the jobs of one fetch on separate goroutines, so a later
//     job may reach the gate a moment before an earlier one. A job that
//     just arrived waits settle (25 ms) before it may start, time for its
//     siblings to line up.
//   - An absent ticket that doesn't come back (the job was cancelled by an
//     operator, or the destination's URL changed on reload) is dropped
//     grace (10 s) after its snooze should have ended.
//
// A retry of a failed job re-enters with its old, small id, so it goes
// before newer messages, but while it waits out its backoff it holds no
// place: it never blocks the others.
//
// # Isolation
//
// At most maxInFlight attempts run at once, and at most maxWaiting jobs
// (fewer for a slow rate: see waitingPlaces) wait inside a worker, each for
// at most maxWait; every other job of the URL snoozes, unless its turn is
// due within quickWait (a fast destination's queue). So a slow, throttled
// or broken URL holds at most maxInFlight + maxWaiting of River's workers;
// a fast one may briefly hold more, each for under quickWait, re-estimated
// as its attempts slow down.
type gate struct {
	mu          sync.Mutex
	lim         *limiter
	brk         breaker
	maxInFlight int
	inFlight    int
	pausedUntil time.Time // Retry-After
	pending     map[int64]*ticket
	changed     chan struct{}     // closed and replaced when anything changes
	sendTime    time.Duration     // moving average of attempt durations
	starts      map[time.Time]int // start times of the attempts in flight
	// backlog: jobs have been waiting since the last start. While it
	// lasts, the bucket's burst is not used (see limiter.paced).
	backlog bool
}

// ticket is a job's place in the queue.
type ticket struct {
	id       int64
	present  bool      // a worker is waiting with it
	since    time.Time // when it arrived, while present
	returnBy time.Time // while absent: dropped if not back by then
}

// gateOptions are the worker-wide waiting rules.
type gateOptions struct {
	maxWait    time.Duration // longest wait inside a worker
	maxWaiting int           // jobs of one URL waiting inside workers
	settle     time.Duration
	lead       time.Duration // snoozing jobs come back this long before their turn
	grace      time.Duration

	// sent, when set, is called once the attempt's send is over, before
	// its result is recorded (memory.go frees the job's place then).
	sent func()
}

// riverSchedulerInterval is River's default scheduler interval (not
// configurable from outside): a snooze longer than this leaves the job
// scheduled until the scheduler's next run, up to this much late.
const riverSchedulerInterval = 5 * time.Second

// minSnooze keeps a job from snoozing for nothing.
const minSnooze = 10 * time.Millisecond

// quickWait is a wait short enough to spend in the worker whatever the
// job's place: a snooze costs a database write and a fetch poll (1 s by
// default) before the job is back, so snoozing a fast destination's queue
// would throttle it to a few jobs per poll.
const quickWait = 100 * time.Millisecond

func newGate(p Policy) *gate {
	g := &gate{pending: map[int64]*ticket{}, starts: map[time.Time]int{}, changed: make(chan struct{})}
	g.lim = newLimiter(p.Limit)
	g.configure(p)
	return g
}

// configure applies the policy's limits; they may change on reload.
func (g *gate) configure(p Policy) {
	g.lim.reconfigure(p.Limit)
	g.brk.cfg = p.Breaker
	g.maxInFlight = max(p.MaxInFlight, 1)
}

func (g *gate) notify() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// permit is a started attempt; done must be called with its outcome.
type permit struct {
	probe bool
	start time.Time
}

// acquire waits for job id's turn. It returns either a permit (started is
// true: send now) or how long the job should snooze to come back near its
// turn, keeping its place. On ctx's end it gives the place up.
func (g *gate) acquire(ctx context.Context, id int64, o gateOptions) (p permit, started bool, snooze time.Duration, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	t := g.pending[id]
	if t == nil {
		t = &ticket{id: id}
		g.pending[id] = t
	}
	t.present, t.since, t.returnBy = true, now, time.Time{}
	g.notify() // waiters behind it have one more job ahead
	deadline := now.Add(o.maxWait)

	for {
		now = time.Now()
		rank, wake := g.scan(id, now)
		wait, busy := g.ready(now)
		if rank == 0 && !busy {
			if s := t.since.Add(o.settle).Sub(now); s > wait {
				wait = s
			}
			if wait <= 0 {
				delete(g.pending, id)
				g.inFlight++
				if g.backlog {
					// Tokens saved while the head was away (snoozed, back
					// late) are no reason to send faster than the rate.
					g.lim.paced(now)
				}
				g.lim.take(now)
				g.starts[now]++
				g.backlog = len(g.pending) > 0
				p = permit{probe: g.brk.started(), start: now}
				g.notify()
				return p, true, 0, nil
			}
		}
		est, step := g.estimate(now, rank, wait, busy)
		if (rank >= waitingPlaces(o, step) && est > quickWait) || now.Add(est).After(deadline) {
			snooze = max(est-o.lead, est/2, minSnooze)
			if snooze > riverSchedulerInterval {
				snooze = max(snooze-riverSchedulerInterval, riverSchedulerInterval)
			}
			t.present, t.returnBy = false, now.Add(snooze+o.grace)
			return permit{}, false, snooze, nil
		}

		// Wait in the worker: until the head may go, anything changes, an
		// absent ticket ahead expires, or the wait budget runs out.
		next := deadline
		if rank == 0 && !busy {
			next = now.Add(wait)
		} else if busy {
			// Re-estimate now and then: an attempt that hangs makes the
			// wait longer than it looked, and the job should snooze.
			if q := now.Add(quickWait); q.Before(next) {
				next = q
			}
		}
		if !wake.IsZero() && wake.Before(next) {
			next = wake
		}
		ch := g.changed
		g.mu.Unlock()
		timer := time.NewTimer(max(next.Sub(now), 0))
		select {
		case <-ch:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		g.mu.Lock()
		if ctx.Err() != nil {
			g.remove(id)
			return permit{}, false, 0, ctx.Err()
		}
	}
}

// scan drops expired absent tickets and returns how many tickets are ahead
// of id, and when the first absent one ahead expires.
func (g *gate) scan(id int64, now time.Time) (rank int, wake time.Time) {
	for oid, o := range g.pending {
		if !o.present && now.After(o.returnBy) {
			g.remove(oid)
			continue
		}
		if oid < id {
			rank++
			if !o.present && (wake.IsZero() || o.returnBy.Before(wake)) {
				wake = o.returnBy
			}
		}
	}
	if !wake.IsZero() {
		wake = wake.Add(time.Millisecond)
	}
	return rank, wake
}

// ready says when the head of the queue may start: wait > 0 means not
// before then; busy means when an attempt in flight ends.
func (g *gate) ready(now time.Time) (wait time.Duration, busy bool) {
	if now.Before(g.pausedUntil) {
		wait = g.pausedUntil.Sub(now)
	}
	bw, bbusy := g.brk.check(now)
	return max(wait, bw, g.lim.delay(now)), bbusy || g.inFlight >= g.maxInFlight
}

// estimate guesses how long until a job with rank jobs ahead may start,
// and the time between starts.
func (g *gate) estimate(now time.Time, rank int, wait time.Duration, busy bool) (est, step time.Duration) {
	// An attempt still running longer than the average says more about
	// the destination now (a hang) than the average does.
	send := g.sendTime
	for s := range g.starts {
		send = max(send, now.Sub(s))
	}
	head := wait
	if busy {
		head = max(head, send/2)
	}
	step = max(g.lim.cfg.step(), send/time.Duration(g.maxInFlight))
	return head + time.Duration(rank)*step, step
}

// places is how many jobs of the URL can start soon: as many as may run
// at once, and as many as may wait for their turn (waitingPlaces).
func (g *gate) places(o gateOptions) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, step := g.estimate(time.Now(), 0, 0, false)
	return g.maxInFlight + waitingPlaces(o, step)
}

// waitingPlaces is how many jobs of a URL may wait inside workers: enough
// that a job coming back from a snooze lead early finds a place (lead/step
// jobs start meanwhile), at most o.maxWaiting.
func waitingPlaces(o gateOptions, step time.Duration) int {
	if step <= 0 {
		return o.maxWaiting
	}
	return min(int((o.lead+step-1)/step)+1, o.maxWaiting)
}

// done ends an attempt. A Retry-After pauses the whole URL (the platform
// throttles the webhook, not the message) and puts the job back in the
// queue at its place, absent until the pause ends.
func (g *gate) done(id int64, p permit, o outcome, retryAfter time.Duration, grace time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.inFlight--
	if g.starts[p.start]--; g.starts[p.start] <= 0 {
		delete(g.starts, p.start)
	}
	took := now.Sub(p.start)
	if g.sendTime == 0 {
		g.sendTime = took
	} else {
		g.sendTime = (3*g.sendTime + took) / 4
	}
	g.brk.record(now, o, p.probe)
	if retryAfter > 0 {
		if until := now.Add(retryAfter); until.After(g.pausedUntil) {
			g.pausedUntil = until
		}
		g.pending[id] = &ticket{id: id, returnBy: now.Add(retryAfter + grace)}
	}
	g.notify()
}

// forget gives up a job's place (it is cancelled).
func (g *gate) forget(id int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.remove(id)
}

// remove takes a ticket out of the queue other than by starting it.
func (g *gate) remove(id int64) {
	if _, ok := g.pending[id]; !ok {
		return
	}
	delete(g.pending, id)
	if len(g.pending) == 0 {
		g.backlog = false
	}
	g.notify()
}

// breakerState is the gate's breaker state now.
func (g *gate) breakerState() BreakerState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.brk.State(time.Now())
}

// limit is the limiter's configuration.
func (g *gate) limit() Limit {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lim.Config()
}
