package redis

import (
	"context"
	"crypto/tls"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"
)

// switchSettle is how long the subscription waits after Sentinel announces
// a new master before it moves: go-redis moves its connection pool on the
// same announcement, and the check that follows must read the new master.
const switchSettle = 200 * time.Millisecond

// watchFailovers listens to the Sentinels' +switch-master announcements.
// Redis replicates asynchronously, so the old master may have acknowledged
// logouts the new one never got. When the master changes, the revocations
// subscription is moved to the new master at once; its resubscription
// tells every cache and the journal (all=true) to check what Redis kept,
// instead of waiting until Sentinel demotes the old master and drops our
// connections, seconds later.
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
		s.psMu.Lock()
		if s.closed.Load() {
			s.psMu.Unlock()
			_ = ps.Close()
			_ = sc.Close()
			return
		}
		s.sentinelPS = ps
		s.psMu.Unlock()

		confirmed := s.receiveSwitches(ps, master)

		s.psMu.Lock()
		s.sentinelPS = nil
		s.psMu.Unlock()
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
			s.log.Warn("redis master switched (Sentinel): moving the subscription to the new master and "+
				"checking that it kept this node's logouts",
				zap.String("master_name", master), zap.String("from", fields[1]+":"+fields[2]),
				zap.String("to", fields[3]+":"+fields[4]))
			select {
			case <-s.stop:
			case <-time.After(switchSettle):
				s.moveSubscription()
			}
		}
	})
	return confirmed
}

// moveSubscription drops the revocations subscription; subscribeLoop makes
// a new one at once, on the current master.
func (s *Store) moveSubscription() {
	s.psMu.Lock()
	defer s.psMu.Unlock()
	if s.ps != nil {
		s.moving.Store(true)
		_ = s.ps.Close()
	}
}
