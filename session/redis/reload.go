package redis

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// scanCount is how many keys one SCAN call looks at.
const scanCount = 1000

// reloadTimeout bounds one SCAN or one batch of GETs.
const reloadTimeout = 10 * time.Second

// reload reads every record in Redis into the view, keeping what the view
// holds, and moves the reader's position to the log's end as it was
// before the scan: what is written during the scan is read from the log
// afterwards, so nothing falls between the two. why is for the log line.
func (s *Store) reload(why string) error {
	start := time.Now()
	pos, err := s.logEnd()
	if err != nil {
		return err
	}
	before := s.view.Set().Len()
	var read atomic.Int64
	scan := func(ctx context.Context, c goredis.Cmdable) error {
		n, err := s.scanRecords(c)
		read.Add(int64(n))
		return err
	}
	if cc, ok := s.client.(*goredis.ClusterClient); ok {
		// Every master at once (ForEachMaster runs them side by side).
		err = cc.ForEachMaster(context.Background(), func(ctx context.Context, c *goredis.Client) error {
			return scan(ctx, c)
		})
	} else {
		err = scan(context.Background(), s.client)
	}
	if err != nil {
		return s.fail(context.Background(), err)
	}
	s.pos = pos
	s.reloads.Add(1)
	s.log.Info("view of Redis loaded from its records",
		zap.String("redis", s.addrs), zap.String("because", why), zap.Int64("records", read.Load()),
		zap.Int("new_to_the_view", s.view.Set().Len()-before), zap.Int("revocations", s.view.Set().Len()),
		zap.Duration("took", time.Since(start)))
	return nil
}

// logEnd is the ID of the log's last entry, "0-0" for an empty log.
func (s *Store) logEnd() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	last, err := s.client.XRevRangeN(ctx, s.logKey, "+", "-", 1).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return "", s.fail(ctx, err)
	}
	if len(last) == 0 {
		return "0-0", nil
	}
	return last[0].ID, nil
}

// scanRecords adds every live record on one Redis node to the view and
// returns how many it read.
func (s *Store) scanRecords(c goredis.Cmdable) (int, error) {
	match := globEscape(s.prefix+"revoked:") + "*"
	read := 0
	var cursor uint64
	for {
		ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
		keys, next, err := c.Scan(ctx, cursor, match, scanCount).Result()
		cancel()
		if err != nil {
			return read, err
		}
		n, err := s.loadRecords(c, keys)
		read += n
		if err != nil {
			return read, err
		}
		if cursor = next; cursor == 0 || s.closed.Load() || s.view.Full() {
			return read, nil
		}
	}
}

// loadRecords reads the records at keys into the view: one MGET, or in a
// Cluster (where one command's keys must share a slot) pipelined GETs.
func (s *Store) loadRecords(c goredis.Cmdable, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	values := make([]any, len(keys))
	if _, cluster := s.client.(*goredis.ClusterClient); !cluster {
		var err error
		if values, err = c.MGet(ctx, keys...).Result(); err != nil {
			return 0, err
		}
	} else {
		cmds := make([]*goredis.StringCmd, len(keys))
		_, _ = c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.Get(ctx, k)
			}
			return nil
		})
		for i, cmd := range cmds {
			v, err := cmd.Result()
			switch {
			case err == nil:
				values[i] = v
			case IsUnreachable(err):
				return 0, err
			} // else absent (expired since the SCAN), or another type at our key: not a record
		}
	}
	now := s.now().UnixMilli()
	read := 0
	for i, v := range values {
		text, _ := v.(string)
		id, err := session.ParseID(strings.TrimPrefix(keys[i], s.prefix+"revoked:"))
		until, perr := strconv.ParseInt(text, 10, 64)
		if err != nil || perr != nil {
			continue // gone, or someone else's key or value under our prefix
		}
		read++
		if until > now {
			s.view.Add(id, until)
		}
	}
	return read, nil
}

// globEscape quotes the characters SCAN's MATCH pattern gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
