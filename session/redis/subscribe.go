package redis

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// Backoff between subscription attempts while Redis cannot be reached.
const (
	minResubscribeDelay = 50 * time.Millisecond
	maxResubscribeDelay = 500 * time.Millisecond
)

// newRetryDelays is the wait between attempts: doubling from
// minResubscribeDelay to maxResubscribeDelay, each wait drawn at random
// within half of it either way, so that nodes that lost Redis together do
// not all come back in the same millisecond.
func newRetryDelays() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     minResubscribeDelay,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         maxResubscribeDelay,
	}
}

// subscribeLoop keeps one subscription to the channel alive until Close.
// Each round makes a fresh PubSub, reads it until the connection is lost,
// and closes it: a confirmed subscription always comes from a round that
// started after the loss, so "confirmed" always means "may have missed
// messages before this point", and the callbacks flush.
func (s *Store) subscribeLoop() {
	defer s.workers.Done()
	delays := newRetryDelays()
	everConfirmed, reportedDown := false, false
	for {
		ps := s.client.Subscribe(context.Background(), s.channel)
		s.psMu.Lock()
		if s.closed.Load() {
			s.psMu.Unlock()
			_ = ps.Close()
			return
		}
		s.ps = ps
		s.psMu.Unlock()

		confirmed, err := s.receive(ps, func() {
			if reportedDown || everConfirmed {
				s.log.Info("redis subscription re-established; cached \"not revoked\" answers flushed",
					zap.String("redis", s.addrs), zap.String("channel", s.channel))
			}
			everConfirmed, reportedDown = true, false
		})

		s.psMu.Lock()
		s.ps = nil
		s.psMu.Unlock()
		_ = ps.Close()
		if s.closed.Load() {
			return
		}
		if confirmed {
			delays.Reset()
		}
		if s.moving.Swap(false) {
			continue // to the new master, now (watchFailovers logged why)
		}
		if !reportedDown {
			reportedDown = true
			what := "redis subscription lost"
			if !everConfirmed {
				what = "redis subscription cannot be established"
			}
			s.log.Warn(what+"; revocations made on other nodes are not heard until it is (re)established",
				zap.String("redis", s.addrs), zap.String("channel", s.channel), zap.Error(err))
		}
		select {
		case <-s.stop:
			return
		case <-time.After(delays.NextBackOff()):
		}
	}
}

// receive reads the revocations subscription until its connection is lost
// (the error says how) or the Store closes.
func (s *Store) receive(ps *goredis.PubSub, onConfirm func()) (confirmed bool, err error) {
	err = s.readPubSub(ps, func(msg any) {
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" && m.Channel == s.channel {
				confirmed = true
				onConfirm()
				s.notify(session.ID{}, true)
				s.subscriptions.Add(1) // after the callbacks: see Subscriptions
			}
		case *goredis.Message:
			if id, ok := s.parseMessage(m.Payload); ok {
				s.notify(id, false)
			}
		}
	})
	return confirmed, err
}

// readPubSub hands every message of ps to on until its connection is lost
// (the error says how) or the Store closes (nil). A quiet connection is
// PINGed after one health-check interval; a second quiet interval means it
// is dead even if TCP has not noticed.
func (s *Store) readPubSub(ps *goredis.PubSub, on func(msg any)) error {
	awaitingPong := false
	for {
		msg, err := ps.ReceiveTimeout(context.Background(), s.health)
		if s.closed.Load() {
			return nil
		}
		if err != nil {
			if !isTimeout(err) || awaitingPong {
				if isTimeout(err) {
					err = errors.New("no answer to PING on the subscription connection")
				}
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.health)
			err = ps.Ping(ctx)
			cancel()
			if err != nil {
				return err
			}
			awaitingPong = true
			continue
		}
		awaitingPong = false
		on(msg)
	}
}

// parseMessage reads "<hex ID>[:<node>]". Messages from this Store are
// skipped: its own cache learnt of the revocation from Revoke. A bare hex
// ID (published by an operator's tooling) is accepted too.
func (s *Store) parseMessage(payload string) (session.ID, bool) {
	hexID, node, _ := strings.Cut(payload, ":")
	if node == s.node {
		return session.ID{}, false
	}
	id, err := session.ParseID(hexID)
	if err != nil {
		s.log.Debug("ignoring malformed message on the revocations channel", zap.String("channel", s.channel))
		return session.ID{}, false
	}
	return id, true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
