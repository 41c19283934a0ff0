package redis

import (
	"errors"
	"fmt"
	"testing"
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
