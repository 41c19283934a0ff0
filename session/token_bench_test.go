package session_test

// Logout tokens are signed once per "give me a logout URL" (the browser
// flow's first step, or {http.logout.url}) and verified once per logout.
//
//	go test -run '^$' -bench 'Token' -benchmem -count 5 ./session/

import (
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
)

func benchKeys(b *testing.B, n int) *session.Keys {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte("0123456789abcdef0123456789abcde" + string(rune('a'+i)))
	}
	k, err := session.NewKeys(keys...)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func BenchmarkToken_Sign(b *testing.B) {
	k := benchKeys(b, 1)
	id := session.IDOf("q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		_ = k.SignLogoutToken(id, now, time.Hour)
	}
}

// BenchmarkToken_Verify verifies against one key and against three (a
// rotation in progress: every key is checked, in constant time).
func BenchmarkToken_Verify(b *testing.B) {
	id := session.IDOf("q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6")
	now := time.Now()
	for _, n := range []int{1, 3} {
		k := benchKeys(b, n)
		token := k.SignLogoutToken(id, now, time.Hour)
		b.Run(map[int]string{1: "keys=1", 3: "keys=3"}[n], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := k.VerifyLogoutToken(token, id, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("forged", func(b *testing.B) {
		k := benchKeys(b, 1)
		token := benchKeys(b, 2).SignLogoutToken(session.IDOf("other"), now, time.Hour)
		b.ReportAllocs()
		for b.Loop() {
			if k.VerifyLogoutToken(token, id, now) == nil {
				b.Fatal("forged token accepted")
			}
		}
	})
}
