package view

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// View is a store's copy of its revocations in memory, and whether that
// copy is current: complete, so that an ID it does not hold is not
// revoked. It is current while all of these hold:
//   - it has been loaded (SetLoaded(true)), and not found wanting since;
//   - it has heard from its source within StaleAfter (Heard), when the
//     source is remote (StaleAfter > 0);
//   - it has never been full since it was last loaded (at its limit it
//     drops revocations, so it is not complete);
//   - it is not closed.
//
// A revocation it holds is one, current or not.
type View struct {
	set        *Set
	staleAfter time.Duration
	name       string // "the view of Redis", for log lines
	source     string // "Redis"
	log        *zap.Logger
	logField   zap.Field

	current atomic.Bool // the conditions above, for lookups

	mu       sync.Mutex
	loaded   bool
	fresh    bool
	full     bool
	closed   bool
	watchdog *time.Timer
	reason   string // why it was not current, for the line that says it is again
	fullLog  time.Time

	limitOption string
	dropped     atomic.Uint64
}

// Options configure New.
type Options struct {
	// Limit is the most revocations it holds (0: no limit).
	Limit int
	// StaleAfter is how long it stays current without a word from its
	// source (Heard); 0 for a local source, always fresh.
	StaleAfter time.Duration
	// Name names it in log lines ("the view of Redis"), and Source what
	// it is a view of ("Redis").
	Name, Source string
	// Logger receives the changes of state; LogField is added to each line.
	Logger   *zap.Logger
	LogField zap.Field
	// LimitOption is what raises Limit, for the warning when it is full.
	LimitOption string
}

// New makes an empty View, not current until SetLoaded(true).
func New(opts Options) *View {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &View{
		set: NewSet(opts.Limit), staleAfter: opts.StaleAfter, name: opts.Name, source: opts.Source,
		log: opts.Logger, logField: opts.LogField, fresh: opts.StaleAfter <= 0, reason: "start",
		limitOption: opts.LimitOption,
	}
}

// Lookup is the session.LocalView answer: until when id is revoked as far
// as the view knows (zero if it does not hold it), and whether the view is
// current. It does not allocate.
func (v *View) Lookup(id session.ID) (until time.Time, current bool) {
	current = v.current.Load()
	if ms := v.set.Until(id); ms != 0 {
		return time.UnixMilli(ms), current
	}
	return time.Time{}, current
}

// Add puts a revocation in the view (keeping the later until). At the
// limit the view drops it, stops being current, and says so (at most once
// a minute).
func (v *View) Add(id session.ID, until int64) {
	if v.set.Add(id, until) {
		return
	}
	v.dropped.Add(1)
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.full {
		v.full = true
		v.update("it holds its limit of revocations")
	}
	if now := time.Now(); now.Sub(v.fullLog) >= time.Minute {
		v.fullLog = now
		v.log.Warn(v.name+" is full: revocations past its limit are not held in memory, so lookups of "+
			"sessions it does not hold go to the store; raise "+v.limitOption+" to keep them all",
			v.logField, zap.Int("limit", v.set.Limit()), zap.Uint64("dropped", v.dropped.Load()))
	}
}

// SetLoaded notes that the view holds everything its source has (true),
// or has found that it may not (false, and why).
func (v *View) SetLoaded(loaded bool, why string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.loaded = loaded
	v.update(why)
}

// Heard notes a word from the source: the view stays fresh for StaleAfter
// from now.
func (v *View) Heard() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.watchdog == nil {
		v.watchdog = time.AfterFunc(v.staleAfter, v.stale)
	} else {
		v.watchdog.Reset(v.staleAfter)
	}
	if !v.fresh {
		v.fresh = true
		v.update("")
	}
}

func (v *View) stale() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fresh {
		v.fresh = false
		v.update("no answer from " + v.source + " for " + v.staleAfter.String())
	}
}

// Sweep forgets expired revocations (see Set.Sweep). When the view was
// full and now has room again (under 90% of its limit) it reports true:
// it is not complete, and the caller loads it again (then SetLoaded).
func (v *View) Sweep(now int64) (removed int, reload bool) {
	removed = v.set.Sweep(now)
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.full || v.closed || v.set.Len() >= v.set.Limit()*9/10 {
		return removed, false
	}
	v.full = false
	v.loaded = false // what it dropped is back only after a reload
	v.update("loading again what it dropped at its limit")
	return removed, true
}

// Close makes the view not current for good.
func (v *View) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = true
	if v.watchdog != nil {
		v.watchdog.Stop()
	}
	v.update("")
}

// update sets current from the state (v.mu held) and logs a change.
func (v *View) update(why string) {
	now := v.loaded && v.fresh && !v.full && !v.closed
	was := v.current.Swap(now)
	switch {
	case v.closed || was == now:
	case now:
		v.log.Info(v.name+" is current: sessions it does not hold are not revoked, without asking the store",
			v.logField, zap.Int("revocations", v.set.Len()), zap.String("after", v.reason))
	case why != "":
		v.reason = why
		v.log.Warn(v.name+" is not current: lookups of sessions it does not hold go to the store "+
			"(the sessions it holds are still refused)",
			v.logField, zap.String("because", why), zap.Int("revocations", v.set.Len()))
	}
}

// Full reports whether the view has dropped revocations at its limit
// since it was last loaded.
func (v *View) Full() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.full
}

// Status is a View's state.
type Status struct {
	Revocations int
	Limit       int
	Current     bool
	Full        bool
	Dropped     uint64
}

// Status reports the view's state.
func (v *View) Status() Status {
	return Status{Revocations: v.set.Len(), Limit: v.set.Limit(), Current: v.current.Load(), Full: v.Full(), Dropped: v.dropped.Load()}
}

// Set is the revocations the view holds (to save and load them).
func (v *View) Set() *Set { return v.set }
