package redis

import "time"

// WithSweepInterval sets how often expired revocations leave the view,
// for tests that cannot wait ten minutes.
func WithSweepInterval(o Options, d time.Duration) Options {
	o.sweepInterval = d
	return o
}
