package redis

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// replyError is an error reply as go-redis hands it over (goredis.Error),
// for the one wording no server here can produce: Redis 5's.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

func TestIsAuthError_RedisBefore6(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{replyError("ERR invalid password"), true},
		{fmt.Errorf("wrapped: %w", replyError("ERR invalid password")), true},
		{replyError("ERR unknown command 'FOO'"), false},
		{errors.New("ERR invalid password"), false}, // not a reply: from somewhere else
	} {
		if got := IsAuthError(c.err); got != c.want {
			t.Errorf("IsAuthError(%q) = %v, want %v", c.err, got, c.want)
		}
	}
}

// After a Redis restart every node retries at once; waits that double in
// step would keep them in step. Two nodes' waits differ, and stay within
// a factor of two of the schedule (50 ms doubling to 500 ms).
func TestRetryDelays_Jittered(t *testing.T) {
	a, b := newRetryDelays(), newRetryDelays()
	same := 0
	for i := range 12 {
		da, db := a.NextBackOff(), b.NextBackOff()
		if da == db {
			same++
		}
		for _, d := range []time.Duration{da, db} {
			if d < minRetryDelay/2 || d > 2*maxRetryDelay {
				t.Errorf("wait %d: %s, outside [%s, %s]", i, d, minRetryDelay/2, 2*maxRetryDelay)
			}
		}
	}
	if same > 1 {
		t.Errorf("two nodes waited exactly as long %d times in 12: the waits are not jittered", same)
	}
	a.Reset()
	if d := a.NextBackOff(); d > 2*minRetryDelay {
		t.Errorf("first wait after Reset: %s", d)
	}
}
