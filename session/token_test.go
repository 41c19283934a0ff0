package session_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
)

var (
	keyA = bytes.Repeat([]byte("a"), 32)
	keyB = bytes.Repeat([]byte("b"), 48)
)

func mustKeys(t testing.TB, keys ...[]byte) *session.Keys {
	t.Helper()
	k, err := session.NewKeys(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewKeys_RefusesShortOrMissingKeys(t *testing.T) {
	if _, err := session.NewKeys(); err == nil {
		t.Error("no keys accepted")
	}
	_, err := session.NewKeys(keyA, []byte("short"))
	if err == nil || !strings.Contains(err.Error(), "#2 must be at least 32 bytes (got 5)") {
		t.Errorf("short key: %v", err)
	}
}

func TestLogoutToken_ValidForItsSession(t *testing.T) {
	k := mustKeys(t, keyA)
	id := session.IDOf("cookie")
	now := time.Unix(1_700_000_000, 0)
	tok := k.SignLogoutToken(id, now, time.Hour)
	if err := k.VerifyLogoutToken(tok, id, now.Add(59*time.Minute)); err != nil {
		t.Fatalf("fresh token refused: %v", err)
	}
	if strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q is not URL-safe base64 without padding", tok)
	}
}

func TestLogoutToken_Refused(t *testing.T) {
	k := mustKeys(t, keyA)
	id := session.IDOf("cookie")
	now := time.Unix(1_700_000_000, 0)
	tok := k.SignLogoutToken(id, now, time.Hour)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)-1] ^= 1
	payloadTampered := append([]byte(nil), raw...)
	payloadTampered[16] ^= 1 // push the expiry later
	errorID := k.Seal(session.PurposeErrorID, raw[:17], id[:])

	cases := map[string]struct {
		token string
		id    session.ID
		at    time.Time
	}{
		"another session":          {tok, session.IDOf("other cookie"), now},
		"expired":                  {tok, id, now.Add(time.Hour)},
		"wrong signature":          {base64.RawURLEncoding.EncodeToString(flipped), id, now},
		"payload tampered":         {base64.RawURLEncoding.EncodeToString(payloadTampered), id, now},
		"truncated":                {tok[:len(tok)-5], id, now},
		"bad base64":               {strings.Repeat("!", len(tok)), id, now},
		"padded base64":            {tok + "==", id, now},
		"empty":                    {"", id, now},
		"huge":                     {strings.Repeat("A", 100_000), id, now},
		"signed by an unknown key": {mustKeys(t, keyB).SignLogoutToken(id, now, time.Hour), id, now},
		"other purpose, same key":  {errorID, id, now},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if err := k.VerifyLogoutToken(c.token, c.id, c.at); err != session.ErrInvalidToken {
				t.Fatalf("got %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestLogoutToken_KeyRotation(t *testing.T) {
	id := session.IDOf("cookie")
	now := time.Now()
	oldTok := mustKeys(t, keyA).SignLogoutToken(id, now, time.Hour)

	rotated := mustKeys(t, keyB, keyA) // new key first, old still verifies
	if err := rotated.VerifyLogoutToken(oldTok, id, now); err != nil {
		t.Fatalf("token of the old key refused during rotation: %v", err)
	}
	newTok := rotated.SignLogoutToken(id, now, time.Hour)
	if err := mustKeys(t, keyB).VerifyLogoutToken(newTok, id, now); err != nil {
		t.Fatalf("rotated config does not sign with the first key: %v", err)
	}
	if err := mustKeys(t, keyB).VerifyLogoutToken(oldTok, id, now); err == nil {
		t.Fatal("token of a removed key still accepted")
	}
}

func TestSeal_RoundTrip_AndBindingIsChecked(t *testing.T) {
	k := mustKeys(t, keyA)
	sealed := k.Seal("p", []byte("payload"), []byte("bind"))
	got, err := k.Open("p", sealed, []byte("bind"))
	if err != nil || string(got) != "payload" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k.Open("p", sealed, []byte("other")); err == nil {
		t.Fatal("wrong binding accepted")
	}
	if _, err := k.Open("q", sealed, []byte("bind")); err == nil {
		t.Fatal("wrong purpose accepted")
	}
}

func TestID_ShortIsAPrefix_AndParseRoundTrips(t *testing.T) {
	id := session.IDOf("secret cookie value")
	if !strings.HasPrefix(id.String(), id.Short()) || len(id.Short()) != 12 {
		t.Fatalf("Short %q is not a 12-char prefix of %q", id.Short(), id.String())
	}
	back, err := session.ParseID(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseID = %v, %v", back, err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("g", 64), id.String()[:63]} {
		if _, err := session.ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}
