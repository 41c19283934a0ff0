package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// replayChunk is how many pending records are read per round trip to the
// file; each is pushed with its own backend call.
const replayChunk = 256

// verifyMargin skips records about to expire in the loss check: the
// backend may already have let them go.
const verifyMargin = 5 * time.Second

// pinger is implemented by backends with a cheap health check (Redis).
type pinger interface {
	Ping(ctx context.Context) error
}

// replayLoop probes the backend while it is away, checks it kept this
// node's records, and pushes pending ones. It runs when woken (a journaled
// logout, a failed lookup, a reconnect) and on a short ticker.
func (s *Store) replayLoop() {
	defer s.workers.Done()
	retry := time.NewTicker(s.retryEvery)
	defer retry.Stop()
	verifyTicker := time.NewTicker(s.verifyEvery)
	defer verifyTicker.Stop()
	needVerify, verifyN := true, verifyAfterReconnect
	var lastRefused time.Time // the end of the last round the backend refused records in
	for {
		woken := false
		select {
		case <-s.stop:
			return
		case <-s.wake:
			woken = true
		case <-retry.C:
		case <-s.verify:
			needVerify, verifyN = true, verifyAfterReconnect
		case <-verifyTicker.C:
			needVerify, verifyN = true, max(verifyN, verifySample)
		}

		if s.degraded.Load() || !s.reached.Load() || s.probeWanted.Swap(false) {
			if err := s.probe(); err != nil {
				s.roundFailed(err)
				lastRefused = time.Time{} // the round that ends the outage is not throttled
				continue
			}
			s.markReached()
			if s.degraded.Load() {
				// What did the backend keep through the outage?
				needVerify, verifyN = true, verifyAfterReconnect
			}
		}
		// From here on an error reply does not end the round: the backend
		// is there and answers reads, so this node must not stay degraded
		// (blind to other nodes' revocations) while it refuses writes.
		answeredErr := false
		if needVerify {
			if err := s.verifyBackend(verifyN); err != nil {
				if s.roundFailed(err) {
					continue
				}
				answeredErr = true
			} else {
				needVerify, verifyN = false, verifySample
			}
		}
		refused := false
		// A backend that refuses writes gets a round every RetryInterval,
		// not one per logout it refuses (each wakes this loop).
		throttled := woken && time.Since(lastRefused) < s.retryEvery
		if throttled {
			refused, answeredErr = true, true
		}
		if s.depth.Load() > 0 && !throttled {
			if err := s.replayPending(); err != nil {
				if s.roundFailed(err) {
					continue
				}
				refused, answeredErr = true, true
				lastRefused = time.Now()
			}
		}
		if s.degraded.Load() {
			s.clearDegraded(refused)
		}
		if !answeredErr && s.depth.Load() == 0 {
			s.clearRefusing()
		}
	}
}

// roundFailed notes a failed step of the replayer's round and reports
// whether the round must end: Close, or a backend that is unreachable (the
// store is degraded now). An error the backend answered with does not end
// it; what it refused stays pending for the next round.
func (s *Store) roundFailed(err error) (stop bool) {
	if s.isStopping(err) {
		return true
	}
	s.backendFailed(err)
	return s.unreachable(err)
}

// probe asks the backend whether it is there.
func (s *Store) probe() error {
	ctx, cancel := s.opContext()
	defer cancel()
	if p, ok := s.backend.(pinger); ok {
		return p.Ping(ctx)
	}
	_, err := s.backend.RevokedUntil(ctx, session.ID{})
	return err
}

// verifyBackend asks the backend for this node's n most recent records; if
// any is missing, the backend lost data, and every live record goes back
// into the pending set.
func (s *Store) verifyBackend(n int) error {
	sample, err := s.recent(n, verifyMargin)
	if err != nil || len(sample) == 0 {
		return err
	}
	missing, err := s.countMissing(sample)
	if err != nil {
		return err
	}
	if missing == 0 {
		return nil
	}
	requeued, err := s.requeueAll()
	s.log.Warn("the session store lost revocations this node made (restarted without persistence, "+
		"a failover that lost writes, or flushed); writing them again from the local journal",
		zap.String("journal", s.path), zap.Int("missing_of_sampled", missing), zap.Int("sampled", len(sample)),
		zap.Int("requeued", requeued), zap.Error(err))
	return err
}

// batchReader is implemented by backends that read many records in a few
// round trips (Redis): the loss check asks for up to a thousand.
type batchReader interface {
	RevokedUntilMany(ctx context.Context, ids []session.ID) ([]time.Time, error)
}

// countMissing asks the backend for each record of sample and counts those
// it does not hold. Only an unreachable backend (or Close) makes it give
// up: a record the backend answers about with an error (a key of another
// type, someone else's value) is not ours as written, so it counts as
// missing, and the check goes on.
func (s *Store) countMissing(sample []entry) (int, error) {
	missing := 0
	if b, ok := s.backend.(batchReader); ok {
		ids := make([]session.ID, len(sample))
		for i, e := range sample {
			ids[i] = e.id
		}
		ctx, cancel := s.opContext()
		untils, err := b.RevokedUntilMany(ctx, ids)
		cancel()
		if err != nil {
			return 0, err
		}
		for _, until := range untils {
			if until.IsZero() {
				missing++
			}
		}
		return missing, nil
	}
	for _, e := range sample {
		ctx, cancel := s.opContext()
		until, err := s.backend.RevokedUntil(ctx, e.id)
		cancel()
		if err != nil && (s.isStopping(err) || s.unreachable(err)) {
			return 0, err
		}
		if err != nil || until.IsZero() {
			missing++
		}
	}
	return missing, nil
}

// replayPending pushes pending records into the backend, once around the
// pending set from where the last round stopped. Only an unreachable
// backend or Close ends it early, or maxRefusedPerRound refusals: a record
// the backend answers with an error (a key of another type, an ACL, out of
// memory) stays pending without holding back the records after it, and
// the next round goes on from there. It returns the first such error.
func (s *Store) replayPending() error {
	start, pushed := s.now(), 0
	defer func() {
		if pushed > 0 {
			s.log.Info("journaled logouts written to the session store",
				zap.String("journal", s.path), zap.Int("replayed", pushed),
				zap.Int("journal_depth", s.JournalDepth()), zap.Duration("took", s.now().Sub(start)))
		}
	}()
	refused := 0
	var firstErr error
	var firstID session.ID
	// A round starts after the record the last one stopped at, goes to the
	// end of the pending set, then wraps around to the start and up to that
	// record: every round that is not stopped sees the whole set once.
	from := s.replayFrom
	s.replayFrom = nil
	after, wrapped := from, from == nil
	for {
		epoch := s.requeues.Load()
		chunk, err := s.pendingChunk(after, replayChunk)
		if err != nil {
			return err
		}
		full := len(chunk) == replayChunk
		if wrapped && from != nil {
			if i := slices.IndexFunc(chunk, func(e entry) bool { return bytes.Compare(e.id[:], from) > 0 }); i >= 0 {
				chunk, full = chunk[:i], false // past where this round began
			}
		}
		done := chunk[:0:0]
		now := s.now().UnixNano()
		var stopErr error
		for _, e := range chunk {
			if s.closed.Load() {
				stopErr = session.ErrClosed
				break
			}
			if e.at > now {
				ctx, cancel := s.opContext()
				err := s.backend.Revoke(ctx, e.id, time.Unix(0, e.at))
				cancel()
				if err != nil && (s.isStopping(err) || s.unreachable(err)) {
					stopErr = err
					break
				}
				if err != nil {
					if refused == 0 {
						firstErr, firstID = err, e.id
					}
					if refused++; refused == maxRefusedPerRound {
						s.replayFrom = append([]byte(nil), e.id[:]...)
						break
					}
					continue // stays pending
				}
				pushed++
			}
			done = append(done, e) // pushed, or expired: no longer pending
		}
		if err := s.replayed(done, epoch); err != nil {
			return err
		}
		if stopErr != nil {
			return fmt.Errorf("replaying the journal: %w", stopErr)
		}
		switch {
		case s.replayFrom != nil:
		case full:
			after = chunk[len(chunk)-1].id[:]
			continue
		case !wrapped:
			after, wrapped = nil, true
			continue
		}
		break
	}
	s.noteRefused(refused, firstID, firstErr)
	if refused > 0 {
		return fmt.Errorf("replaying the journal: %w", firstErr)
	}
	return nil
}

// maxRefusedPerRound bounds the writes one replay round makes to a backend
// that refuses them: a Redis out of memory gets a few every RetryInterval,
// not one per pending record.
const maxRefusedPerRound = 64

// refusedLogEvery spaces the warnings about records the backend keeps
// refusing: the replayer retries them every RetryInterval.
const refusedLogEvery = time.Minute

// noteRefused warns about the records a replay round left pending because
// the backend refused them: once when it starts, then at most every
// refusedLogEvery, naming the first refused record by its Short ID.
func (s *Store) noteRefused(n int, first session.ID, err error) {
	if n == 0 {
		s.refusedWarned = time.Time{}
		return
	}
	now := s.now()
	if !s.refusedWarned.IsZero() && now.Sub(s.refusedWarned) < refusedLogEvery {
		return
	}
	s.refusedWarned = now
	s.log.Warn("session store refused journaled logouts; they stay pending and are retried, "+
		"without holding back the others",
		zap.String("journal", s.path), zap.Int("refused", n), zap.String("first_refused", first.Short()),
		zap.Int("journal_depth", s.JournalDepth()), zap.Error(err))
}

// opContext bounds one backend call and ends at Close.
func (s *Store) opContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opTimeout)
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// isStopping tells Close's side effects from real backend failures.
func (s *Store) isStopping(err error) bool {
	return s.closed.Load() || errors.Is(err, session.ErrClosed)
}
