package redis_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/redis"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

func TestOwners_Conformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	storetest.RunOwners(t, func(t *testing.T) session.Store {
		return open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t)})
	})
}

// In Cluster every script must touch one slot: an index and its marks
// share a hash tag, the session's record is written by its own script.
func TestOwners_Conformance_Cluster(t *testing.T) {
	nodes := redistest.StartCluster(t, 3)
	addrs := []string{nodes[0].Addr, nodes[1].Addr, nodes[2].Addr}
	storetest.RunOwners(t, func(t *testing.T) session.Store {
		return open(t, redis.Options{Addrs: addrs, KeyPrefix: uniquePrefix(t)})
	})
}

// What an operator finds in Redis: every key expires, the record holds
// claims and times, never a credential.
func TestOwners_KeysExpireAndHoldNoCredential(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	s := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	ctx := context.Background()
	credential := "the-cookie-value-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	now := time.Now()
	sg := session.Sighting{ID: session.CookieID(credential), Owner: session.Owner{Issuer: "https://idp.example", Subject: "alice", SessionID: "sid-1"},
		Seen: now, Since: now, Confirmed: true, Until: now.Add(90 * time.Minute)}
	if _, err := s.RecordOwners(ctx, []session.Sighting{sg}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkOwnerRevoked(ctx, session.BySubject("bob"), session.OwnerMark{At: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	c := srv.Client(t)
	keys, err := c.Keys(ctx, prefix+"*").Result()
	// The record, alice's index, the index of her IdP session, bob's marks.
	if err != nil || len(keys) != 4 {
		t.Fatalf("keys %v, %v; want 4", keys, err)
	}
	for _, k := range keys {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("%s: PTTL %s, %v; every owner key must expire", k, ttl, err)
		}
		dump, _ := c.Dump(ctx, k).Result()
		if strings.Contains(dump, credential) || strings.Contains(k, credential) {
			t.Errorf("%s holds the credential", k)
		}
	}
	rec, err := c.HGetAll(ctx, s.OwnerKey(sg.ID)).Result()
	if err != nil || rec["sub"] != "alice" || rec["sid"] != "sid-1" || rec["c"] != "1" {
		t.Fatalf("record %v, %v", rec, err)
	}
	if ttl, _ := c.PTTL(ctx, s.OwnerKey(sg.ID)).Result(); ttl < 89*time.Minute || ttl > 90*time.Minute {
		t.Errorf("record PTTL %s, want about 90m (Until)", ttl)
	}
}

// A Redis restarted empty has lost the scripts: the next call loads them.
func TestOwners_AfterScriptFlush_LoadsScriptsAgain(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t)})
	ctx := context.Background()
	now := time.Now()
	sg := session.Sighting{ID: session.IDOf("x"), Owner: session.Owner{Subject: "alice"}, Seen: now, Since: now, Until: now.Add(time.Hour)}
	for range 2 {
		if _, err := s.RecordOwners(ctx, []session.Sighting{sg}, 10); err != nil {
			t.Fatalf("RecordOwners: %v", err)
		}
		if err := srv.Client(t).ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.MarkOwnerRevoked(ctx, session.BySubject("alice"), session.OwnerMark{At: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatalf("MarkOwnerRevoked after SCRIPT FLUSH: %v", err)
	}
}

// In Cluster a pipeline's index entry can land before the session's record
// (another slot, another node). A revocation by owner in between must still
// list the session: here the record is simply not there yet.
func TestOwners_Mark_ListsAnIndexedSessionWhoseRecordIsOnItsWay(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t)})
	ctx := context.Background()
	now := time.Now()
	owner := session.Owner{Issuer: "i", Subject: "alice", SessionID: "s"}
	sg := session.Sighting{ID: session.IDOf("on-its-way"), Owner: owner, Seen: now, Since: now, Confirmed: true, Until: now.Add(time.Hour)}
	if _, err := s.RecordOwners(ctx, []session.Sighting{sg}, 10); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).Del(ctx, s.OwnerKey(sg.ID)).Err(); err != nil {
		t.Fatal(err)
	}
	for _, key := range []session.OwnerKey{session.BySubject("alice"), session.ByIssuerSubject("i", "alice"), session.ByIssuerSession("i", "s")} {
		recs, err := s.MarkOwnerRevoked(ctx, key, session.OwnerMark{At: now.Add(time.Second), Until: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].ID != sg.ID {
			t.Fatalf("%s: the mark listed %d sessions; an indexed session whose record has not arrived escaped it", key, len(recs))
		}
	}
}
