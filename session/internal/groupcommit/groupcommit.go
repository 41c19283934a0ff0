// Package groupcommit lets many callers share one durable write: a single
// writer takes one request, then every other request already waiting, and
// commits them together (one fsync for all). A lone caller is written at
// once; there is no timer. The bolt store and the outage journal use it.
package groupcommit

import (
	"context"

	"github.com/caddy-logout/caddy-logout/session"
)

// Committer queues requests of type R for one writer.
type Committer[R any] struct {
	requests chan waiting[R] // unbuffered: a send succeeds once the writer has taken it
	maxBatch int
	write    func(batch []R) error
}

type waiting[R any] struct {
	req  R
	done chan error // buffered, so the writer never blocks on a caller
}

// New returns a Committer that writes batches of up to maxBatch requests
// with write, which must make them durable before it returns.
func New[R any](maxBatch int, write func(batch []R) error) *Committer[R] {
	return &Committer[R]{requests: make(chan waiting[R]), maxBatch: max(maxBatch, 1), write: write}
}

// Submit hands req to the writer and returns once its batch is written.
// ctx is honoured until the writer takes the request; after that the
// request is written and Submit waits for it. When stop is closed (the
// store is closing) a request not yet taken gets session.ErrClosed.
func (c *Committer[R]) Submit(ctx context.Context, stop <-chan struct{}, req R) error {
	w := waiting[R]{req: req, done: make(chan error, 1)}
	select {
	case c.requests <- w:
		return <-w.done
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return session.ErrClosed
	}
}

// Run is the writer; it returns when stop is closed. Requests it has taken
// are always written and answered first.
func (c *Committer[R]) Run(stop <-chan struct{}) {
	batch := make([]waiting[R], 0, c.maxBatch)
	reqs := make([]R, 0, c.maxBatch)
	for {
		select {
		case w := <-c.requests:
			batch = c.drain(append(batch[:0], w))
			reqs = reqs[:0]
			for _, w := range batch {
				reqs = append(reqs, w.req)
			}
			err := c.write(reqs)
			for _, w := range batch {
				w.done <- err
			}
			clear(batch) // let the answered requests be collected
			clear(reqs)
		case <-stop:
			return
		}
	}
}

// drain adds the requests already waiting, without blocking.
func (c *Committer[R]) drain(batch []waiting[R]) []waiting[R] {
	for len(batch) < c.maxBatch {
		select {
		case w := <-c.requests:
			batch = append(batch, w)
		default:
			return batch
		}
	}
	return batch
}
