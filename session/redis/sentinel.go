package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"
)

// switchSettle is how long the log reader waits after Sentinel announces a
// new master before it moves: go-redis moves its connection pool on the
// same announcement, and the reader's checks must read the new master.
const switchSettle = 200 * time.Millisecond

// watchFailovers listens to the Sentinels' +switch-master announcements.
// Redis replicates asynchronously, so the old master may have acknowledged
// logouts the new one never got. When the master changes, the log reader
// is moved to the new master at once: it checks that the log there follows
// on from what it read (else it reloads the view), and its reconnect tells
// the journal to check what Redis kept, instead of waiting until Sentinel
// demotes the old master and drops our connections, seconds later.
func (s *Store) watchFailovers(sentinels []string, master string, tlsConfig *tls.Config) {
	defer s.workers.Done()
	delays, warned := newRetryDelays(), false
	for i := 0; ; i++ {
		addr := sentinels[i%len(sentinels)]
		sc := goredis.NewSentinelClient(&goredis.Options{
			Addr: addr, TLSConfig: tlsConfig, ClientName: "caddy-logout",
			DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
			DialerRetries: 1, MaxRetries: 1,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
		ps := sc.Subscribe(context.Background(), "+switch-master")
		s.readerMu.Lock()
		if s.closed.Load() {
			s.readerMu.Unlock()
			_ = ps.Close()
			_ = sc.Close()
			return
		}
		s.sentinelPS = ps
		s.readerMu.Unlock()

		confirmed := s.receiveSwitches(ps, master)

		s.readerMu.Lock()
		s.sentinelPS = nil
		s.readerMu.Unlock()
		_ = ps.Close()
		_ = sc.Close()
		if confirmed {
			delays.Reset()
			warned = false
		} else if !warned && !s.closed.Load() {
			warned = true
			s.log.Warn("cannot listen for Sentinel's master switches; after a failover, logouts the old master "+
				"lost are found only when this node reconnects", zap.String("sentinel", addr), zap.String("master_name", master))
		}
		select {
		case <-s.stop:
			return
		case <-time.After(delays.NextBackOff()):
		}
	}
}

// receiveSwitches reads +switch-master announcements until the connection
// to the Sentinel is lost or the Store closes.
func (s *Store) receiveSwitches(ps *goredis.PubSub, master string) (confirmed bool) {
	_ = s.readPubSub(ps, func(msg any) {
		switch m := msg.(type) {
		case *goredis.Subscription:
			confirmed = true
		case *goredis.Message:
			// "<master name> <old ip> <old port> <new ip> <new port>"
			fields := strings.Fields(m.Payload)
			if len(fields) != 5 || fields[0] != master {
				return
			}
			s.log.Warn("redis master switched (Sentinel): moving the revocation log reader to the new master and "+
				"checking that it kept this node's logouts",
				zap.String("master_name", master), zap.String("from", fields[1]+":"+fields[2]),
				zap.String("to", fields[3]+":"+fields[4]))
			select {
			case <-s.stop:
			case <-time.After(switchSettle):
				s.moveReader()
			}
		}
	})
	return confirmed
}

// moveReader drops the log reader's connection; readLog connects again at
// once, to the current master.
func (s *Store) moveReader() {
	s.readerMu.Lock()
	defer s.readerMu.Unlock()
	if s.reader != nil {
		s.moving.Store(true)
		_ = s.reader.Close()
	}
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
					err = errors.New("no answer to PING on the Sentinel connection")
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

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
