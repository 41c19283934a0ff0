package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// Backoff between connection attempts of the log reader (and of the
// Sentinel watcher) while Redis cannot be reached.
const (
	minRetryDelay = 50 * time.Millisecond
	maxRetryDelay = 500 * time.Millisecond
)

// readBatch is how many log entries one XREAD returns at most.
const readBatch = 1000

// newRetryDelays is the wait between attempts: doubling from minRetryDelay
// to maxRetryDelay, each wait drawn at random within half of it either
// way, so that nodes that lost Redis together do not all come back in the
// same millisecond.
func newRetryDelays() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     minRetryDelay,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         maxRetryDelay,
	}
}

// readLog keeps the view current until Close: each round connects (a
// client of its own, so a blocked XREAD holds none of the pool's
// connections and Close or a failover can end it), reads the log until
// the connection fails, and closes.
func (s *Store) readLog() {
	defer s.workers.Done()
	s.loadSaved()
	delays := newRetryDelays()
	reportedDown := false
	for {
		rc := goredis.NewUniversalClient(s.readerOptions())
		s.readerMu.Lock()
		if s.closed.Load() {
			s.readerMu.Unlock()
			_ = rc.Close()
			return
		}
		s.reader = rc
		s.readerMu.Unlock()

		caughtUp, err := s.readRound(rc, func() {
			if reportedDown {
				s.log.Info("reading the revocation log again; caught up on what was missed",
					zap.String("redis", s.addrs), zap.String("log", s.logKey))
			}
			reportedDown = false
		})

		s.readerMu.Lock()
		s.reader = nil
		s.readerMu.Unlock()
		_ = rc.Close()
		if s.closed.Load() {
			return
		}
		if caughtUp {
			delays.Reset()
		}
		if s.moving.Swap(false) {
			continue // to the new master, now (watchFailovers logged why)
		}
		if !reportedDown {
			reportedDown = true
			s.log.Warn("cannot read the revocation log; revocations made on other nodes reach this node once it can",
				zap.String("redis", s.addrs), zap.String("log", s.logKey), zap.Error(err))
		}
		select {
		case <-s.stop:
			return
		case <-time.After(delays.NextBackOff()):
		}
	}
}

// readerOptions are the store's client options for the log reader's
// client: one connection, never retried.
func (s *Store) readerOptions() *goredis.UniversalOptions {
	o := *s.uo
	o.PoolSize, o.MinIdleConns, o.MaxIdleConns = 1, 0, 1
	o.MaxRetries = -1
	o.ClientName = "caddy-logout-log"
	return &o
}

// readerConn is the one connection a round reads the log on, to the node
// that holds it. A go-redis Conn is never made again behind the reader's
// back: a connection lost ends the round, and the next one checks what the
// log still has, on a Redis that may have restarted empty or failed over.
func readerConn(rc goredis.UniversalClient, logKey string) (*goredis.Conn, error) {
	switch c := rc.(type) {
	case *goredis.Client: // standalone, and Sentinel's master
		return c.Conn(), nil
	case *goredis.ClusterClient:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		node, err := c.MasterForKey(ctx, logKey)
		if err != nil {
			return nil, err
		}
		return node.Conn(), nil
	}
	return nil, fmt.Errorf("unexpected redis client %T", rc)
}

// readRound reads the log on rc until its connection fails (the error
// says how) or the Store closes: first on from the last entry read, if the
// log still has it (else a reload), then entry by entry as they come.
// onCaughtUp runs once it has caught up, before the reconnect subscribers.
func (s *Store) readRound(rc goredis.UniversalClient, onCaughtUp func()) (caughtUp bool, err error) {
	conn, err := readerConn(rc, s.logKey)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if s.pos == "" {
		err = s.reload("start")
	} else if has, herr := s.logHas(conn, s.pos); herr != nil {
		return false, herr
	} else if !has {
		s.view.SetLoaded(false, "the revocation log no longer has this node's position")
		err = s.reload("the revocation log no longer has this node's position (Redis restarted without its data, " +
			"failed over, was flushed, or this node was away longer than the log is kept)")
	}
	if err != nil {
		return false, err
	}
	// The view is loaded once the log is read to its end after a reload
	// (or, on a reconnect, after catching up).
	loading := true
	block := time.Duration(-1) // catch up without waiting, then wait for entries
	for {
		if s.closed.Load() {
			return caughtUp, nil
		}
		if s.wantReload.Swap(false) {
			if err := s.reload("the view has room again after being full"); err != nil {
				return caughtUp, err
			}
			loading, block = true, -1
		}
		n, gap, err := s.readEntries(conn, block)
		if err != nil {
			return caughtUp, err
		}
		if gap != "" {
			s.view.SetLoaded(false, gap)
			s.notify(session.ID{}, true) // what was cached from Redis may miss the entries skipped
			if err := s.reload(gap); err != nil {
				return caughtUp, err
			}
			loading, block = true, -1
			continue
		}
		if n == readBatch {
			block = -1 // more to come at once
			continue
		}
		if loading {
			loading = false
			s.view.SetLoaded(true, "")
		}
		if !caughtUp {
			caughtUp = true
			onCaughtUp()
			s.notifyReconnect()
			s.caughtUp.Add(1) // after the subscribers: see session.ViewStatus.CaughtUp
		}
		block = s.health
	}
}

// readEntries reads the log after s.pos into the view: without waiting
// (block < 0) or waiting up to block for an entry. It returns how many it
// read, or why the log does not follow on from s.pos.
func (s *Store) readEntries(conn *goredis.Conn, block time.Duration) (n int, gap string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), max(block, 0)+s.health+2*time.Second)
	defer cancel()
	streams, err := conn.XRead(ctx, &goredis.XReadArgs{Streams: []string{s.logKey, s.pos}, Count: readBatch, Block: block}).Result()
	if errors.Is(err, goredis.Nil) {
		s.view.Heard()
		return 0, "", nil // nothing new
	}
	if err != nil {
		return 0, "", err
	}
	s.view.Heard()
	for _, st := range streams {
		for _, m := range st.Messages {
			if prev, _ := m.Values["prev"].(string); prev != s.pos {
				return n, fmt.Sprintf("the revocation log skipped entries after %s (its next entry follows %s): "+
					"Redis restarted without its data, failed over, was flushed or trimmed", s.pos, prev), nil
			}
			s.pos = m.ID
			n++
			id, until, ok := parseEntry(m.Values)
			if !ok {
				s.log.Debug("ignoring a malformed entry in the revocation log", zap.String("log", s.logKey), zap.String("entry", m.ID))
				continue
			}
			if until > s.now().UnixMilli() {
				s.view.Add(id, until)
			}
			s.notify(id, false)
		}
	}
	return n, "", nil
}

// parseEntry reads a log entry's revocation.
func parseEntry(v map[string]any) (session.ID, int64, bool) {
	hexID, _ := v["id"].(string)
	untilText, _ := v["until"].(string)
	id, err := session.ParseID(hexID)
	if err != nil {
		return id, 0, false
	}
	until, err := strconv.ParseInt(untilText, 10, 64)
	return id, until, err == nil
}

// logHas reports whether the log still holds the entry at pos: if it
// does, everything after it is there too (the log is trimmed from the
// front), and reading on from it misses nothing.
func (s *Store) logHas(conn *goredis.Conn, pos string) (bool, error) {
	if pos == "0-0" {
		return true, nil // read from the start of an empty log: any first entry follows on
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.health+2*time.Second)
	defer cancel()
	msgs, err := conn.XRange(ctx, s.logKey, pos, pos).Result()
	if err != nil {
		return false, err
	}
	return len(msgs) == 1, nil
}
