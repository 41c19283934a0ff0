package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// lazyStore stands in for a store whose file another process holds when
// the config loads: typically `caddy validate` run next to the Caddy that
// serves, or a restart while the old process is still letting go. The
// config loads anyway; the store is opened in the background as soon as
// the file is free, and until then every call fails fast with an error
// that on_store_error decides about.
type lazyStore struct {
	log  *zap.Logger
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	store  session.Store // nil until opened
	subs   []lazySub
	closed bool
}

type lazySub struct {
	fn          func(session.ID, bool)
	unsubscribe func()
}

// errNotOpenYet is what calls get while the file is still locked.
var errNotOpenYet = fmt.Errorf("session store not open yet: %w", session.ErrLocked)

// lazyRetry is how often the file is tried again.
const lazyRetry = time.Second

func newLazyStore(open func() (session.Store, error), log *zap.Logger) *lazyStore {
	l := &lazyStore{log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go l.openLoop(open)
	return l
}

func (l *lazyStore) openLoop(open func() (session.Store, error)) {
	defer close(l.done)
	t := time.NewTicker(lazyRetry)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		s, err := open()
		if errors.Is(err, session.ErrLocked) {
			continue
		}
		if err != nil {
			l.log.Error("opening the session store failed", zap.Error(err))
			continue
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = s.Close()
			return
		}
		l.store = s
		if b, ok := s.(session.Broadcaster); ok {
			for i := range l.subs {
				l.subs[i].unsubscribe = b.Subscribe(l.subs[i].fn)
			}
		}
		l.mu.Unlock()
		l.log.Info("session store opened")
		return
	}
}

func (l *lazyStore) current() (session.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return nil, session.ErrClosed
	case l.store == nil:
		return nil, errNotOpenYet
	}
	return l.store, nil
}

// Revoke implements session.Store.
func (l *lazyStore) Revoke(ctx context.Context, id session.ID, until time.Time) error {
	s, err := l.current()
	if err != nil {
		return err
	}
	return s.Revoke(ctx, id, until)
}

// RevokedUntil implements session.Store.
func (l *lazyStore) RevokedUntil(ctx context.Context, id session.ID) (time.Time, error) {
	s, err := l.current()
	if err != nil {
		return time.Time{}, err
	}
	return s.RevokedUntil(ctx, id)
}

// Subscribe implements session.Broadcaster, passing subscriptions on to
// the store once it is open.
func (l *lazyStore) Subscribe(fn func(session.ID, bool)) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	sub := lazySub{fn: fn, unsubscribe: func() {}}
	if b, ok := l.store.(session.Broadcaster); ok {
		sub.unsubscribe = b.Subscribe(fn)
	}
	l.subs = append(l.subs, sub)
	i := len(l.subs) - 1
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.subs[i].unsubscribe()
		l.subs[i].unsubscribe = func() {}
	}
}

// Close stops trying and closes the store if it was opened.
func (l *lazyStore) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	s := l.store
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	if s != nil {
		return s.Close()
	}
	return nil
}
