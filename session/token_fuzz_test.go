package session_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
)

var (
	fuzzNow    = time.Unix(1_700_000_000, 0)
	fuzzKeyOld = bytes.Repeat([]byte("o"), 32)
	fuzzKeyNew = bytes.Repeat([]byte("n"), 40)
)

// FuzzOpenLogoutToken: whatever the token and cookie, verification either
// fails with ErrInvalidToken or the token is, byte for byte, one that Seal
// produced for this very session under one of the keys. So no re-spelling
// of a real token (another base64 tail, an inserted newline, padding)
// verifies, and a random string verifies only by forging the MAC. Every
// run also checks that any one change to a fresh token makes it fail.
func FuzzOpenLogoutToken(f *testing.F) {
	oldKeys, newKeys := mustKeys(f, fuzzKeyOld), mustKeys(f, fuzzKeyNew)
	for _, cookie := range []string{"alice", "s%3Abob.sig", ""} {
		id := session.IDOf(cookie)
		for _, tok := range []string{
			oldKeys.SignLogoutToken(id, fuzzNow, time.Hour),
			newKeys.SignLogoutToken(id, fuzzNow.Add(-time.Minute), 24*time.Hour),
			newKeys.SignLogoutToken(id, fuzzNow.Add(-2*time.Hour), time.Hour), // expired
			newKeys.Seal(session.PurposeErrorID, make([]byte, 17), id[:]),     // another purpose
		} {
			f.Add(tok, cookie, uint(len(tok)-1), byte(1))
			f.Add(tok[:len(tok)-1]+"B", cookie, uint(0), byte(2))   // another base64 tail
			f.Add(tok[:20]+"\n"+tok[20:], cookie, uint(5), byte(3)) // newline the decoder skips
			f.Add(tok+"==", cookie, uint(7), byte(0))
		}
	}
	for _, s := range []string{"", "A", strings.Repeat("A", 43), strings.Repeat("_", 66), strings.Repeat("A", 9000), "%00", "....", "\xff\xfe"} {
		f.Add(s, "alice", uint(3), byte(0x80))
	}

	verifier := mustKeys(f, fuzzKeyNew, fuzzKeyOld) // mid-rotation: both verify
	f.Fuzz(func(t *testing.T, token, cookie string, pos uint, op byte) {
		id := session.IDOf(cookie)
		err := verifier.VerifyLogoutToken(token, id, fuzzNow)
		if err != nil && err != session.ErrInvalidToken {
			t.Fatalf("VerifyLogoutToken(%q) = %v, want nil or ErrInvalidToken", token, err)
		}
		if err == nil {
			p, err := verifier.Open(session.PurposeLogoutToken, token, id[:])
			if err != nil || len(p) != 17 || p[0] != 1 {
				t.Fatalf("%q verified but opens as %x, %v", token, p, err)
			}
			if token != newKeys.Seal(session.PurposeLogoutToken, p, id[:]) && token != oldKeys.Seal(session.PurposeLogoutToken, p, id[:]) {
				t.Fatalf("%q verified but is not what Seal produces for its payload %x", token, p)
			}
			if _, err := verifier.Open(session.PurposeErrorID, token, id[:]); err == nil {
				t.Fatalf("logout token %q also opens as an error id", token)
			}
			other := session.IDOf(cookie + "\x00")
			if verifier.VerifyLogoutToken(token, other, fuzzNow) == nil {
				t.Fatalf("%q verified for another session", token)
			}
		}
		if _, err := verifier.Open(session.PurposeErrorID, token, nil); err == nil && len(token) > 8192 {
			t.Fatalf("Open accepted %d bytes", len(token))
		}

		// One change to a fresh token, chosen by (pos, op), makes it fail.
		good := verifier.SignLogoutToken(id, fuzzNow, time.Hour)
		if err := verifier.VerifyLogoutToken(good, id, fuzzNow); err != nil {
			t.Fatalf("fresh token refused: %v", err)
		}
		bad := mutate(good, pos, op)
		if bad == good {
			t.Fatalf("mutate(%d, %d) changed nothing", pos, op)
		}
		if verifier.VerifyLogoutToken(bad, id, fuzzNow) == nil {
			t.Fatalf("token %q changed to %q (pos %d, op %d) still verifies", good, bad, pos, op)
		}
	})
}

// mutate makes one change to s: truncate, replace, insert or delete a
// byte, at a position chosen by pos.
func mutate(s string, pos uint, op byte) string {
	i := int(pos % uint(len(s)))
	switch op % 4 {
	case 0:
		return s[:i]
	case 1:
		return s[:i] + string(s[i]^(op>>2|1)) + s[i+1:]
	case 2:
		return s[:i] + string(op>>2) + s[i:]
	}
	return s[:i] + s[i+1:]
}

// TestOpen_NonCanonicalSpellingsRefused pins what FuzzOpenLogoutToken
// found: base64 leaves 4 unused bits in the last character of a 66-byte
// token, and Go's decoder skips CR and LF, so 15 other last characters or
// an inserted newline (%0A in the URL) decoded to the same bytes and
// verified. A token now has exactly one spelling.
func TestOpen_NonCanonicalSpellingsRefused(t *testing.T) {
	k := mustKeys(t, fuzzKeyNew)
	id := session.IDOf("alice")
	good := k.SignLogoutToken(id, fuzzNow, time.Hour)
	if err := k.VerifyLogoutToken(good, id, fuzzNow); err != nil {
		t.Fatal(err)
	}
	if tok, ok := otherTail(k, good, func(tok string) bool { return k.VerifyLogoutToken(tok, id, fuzzNow) == nil }); ok {
		t.Errorf("%q verifies as well as %q", tok, good)
	}
	for _, nl := range []string{"\n", "\r", "\r\n"} {
		for _, i := range []int{0, 10, len(good)} {
			if tok := good[:i] + nl + good[i:]; k.VerifyLogoutToken(tok, id, fuzzNow) == nil {
				t.Errorf("%q inserted at %d verifies", nl, i)
			}
		}
	}
	// An error id of 26+32 bytes also has 4 spare bits at its end.
	errID := k.Seal(session.PurposeErrorID, make([]byte, 26), nil)
	if tok, ok := otherTail(k, errID, func(tok string) bool { _, err := k.Open(session.PurposeErrorID, tok, nil); return err == nil }); ok {
		t.Errorf("error id %q opens as well as %q", tok, errID)
	}
}

// otherTail looks for another last character that valid accepts.
func otherTail(k *session.Keys, tok string, valid func(string) bool) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, c := range alphabet {
		if other := tok[:len(tok)-1] + string(c); other != tok && valid(other) {
			return other, true
		}
	}
	return "", false
}
