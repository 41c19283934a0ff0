package groupcommit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/groupcommit"
)

// TestCommitter_ConcurrentCallersShareWrites: while one write is under
// way, the callers arriving meanwhile are written together in the next.
func TestCommitter_ConcurrentCallersShareWrites(t *testing.T) {
	var writes, written atomic.Int64
	c := groupcommit.New(1000, func(batch []int) error {
		writes.Add(1)
		written.Add(int64(len(batch)))
		time.Sleep(2 * time.Millisecond) // an fsync
		return nil
	})
	stop := make(chan struct{})
	go c.Run(stop)
	defer close(stop)

	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Submit(context.Background(), stop, i); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if written.Load() != 200 {
		t.Fatalf("%d of 200 requests written", written.Load())
	}
	if n := writes.Load(); n > 50 {
		t.Fatalf("200 concurrent requests took %d writes: no grouping", n)
	}
}

func TestCommitter_BatchesNeverExceedMax(t *testing.T) {
	var largest atomic.Int64
	c := groupcommit.New(3, func(batch []int) error {
		if n := int64(len(batch)); n > largest.Load() {
			largest.Store(n)
		}
		time.Sleep(time.Millisecond)
		return nil
	})
	stop := make(chan struct{})
	go c.Run(stop)
	defer close(stop)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); c.Submit(context.Background(), stop, i) }()
	}
	wg.Wait()
	if largest.Load() > 3 {
		t.Fatalf("a batch of %d with maxBatch 3", largest.Load())
	}
}

func TestCommitter_WriteErrorReachesEveryCallerOfTheBatch(t *testing.T) {
	boom := errors.New("disk full")
	c := groupcommit.New(10, func([]int) error { return boom })
	stop := make(chan struct{})
	go c.Run(stop)
	defer close(stop)
	if err := c.Submit(context.Background(), stop, 1); !errors.Is(err, boom) {
		t.Fatalf("Submit = %v, want the write's error", err)
	}
}

func TestCommitter_CancelledBeforeTaken_NotWritten(t *testing.T) {
	var written atomic.Int64
	c := groupcommit.New(10, func(b []int) error { written.Add(int64(len(b))); return nil })
	stop := make(chan struct{})
	// No writer runs: nothing is ever taken.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Submit(ctx, stop, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit = %v, want context.Canceled", err)
	}
	close(stop)
	if err := c.Submit(context.Background(), stop, 2); !errors.Is(err, session.ErrClosed) {
		t.Fatalf("Submit after stop = %v, want ErrClosed", err)
	}
	if written.Load() != 0 {
		t.Fatal("a request that was never taken was written")
	}
}
