package session_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
)

var (
	sealKey    = []byte("0123456789abcdef0123456789abcdef")
	sealKeyOld = []byte("fedcba9876543210fedcba9876543210")
)

func newSealer(t testing.TB, keys ...[]byte) *session.Sealer {
	t.Helper()
	s, err := session.NewSealer(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSeal_RoundTrip_FreshNoncePerIssuance(t *testing.T) {
	s := newSealer(t, sealKey)
	const remember = "42|5f4dcc3b5aa765d61d8327deb882cf99" // the same for every login of user 42
	a, err := s.Seal("remember_token", remember)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Seal("remember_token", remember)
	if a == b {
		t.Fatal("two issuances of one value sealed alike: they could not be revoked apart")
	}
	for _, sealed := range []string{a, b} {
		got, err := s.Open(nil, "remember_token", sealed)
		if err != nil || string(got) != remember {
			t.Fatalf("Open = %q, %v; want the app's value", got, err)
		}
		if strings.Contains(sealed, "5f4dcc3b") {
			t.Fatalf("sealed value %q shows the app's", sealed)
		}
	}
}

func TestSeal_RefusesWhatIsNotOurs(t *testing.T) {
	s := newSealer(t, sealKey)
	sealed, _ := s.Seal("remember_token", "42|secret")
	other := newSealer(t, sealKeyOld)
	foreign, _ := other.Seal("remember_token", "42|secret")
	flipped := []byte(sealed)
	flipped[len(flipped)-3] ^= 1
	for name, v := range map[string]string{
		"the raw app value":       "42|secret",
		"empty":                   "",
		"only the prefix":         "s1.",
		"not base64":              "s1.!!!!",
		"too short":               "s1.AAAA",
		"a flipped bit":           string(flipped),
		"sealed with another key": foreign,
		"an unknown key id":       "s1." + strings.Repeat("_", 60),
	} {
		if _, err := s.Open(nil, "remember_token", v); !errors.Is(err, session.ErrNotSealed) {
			t.Errorf("%s: Open: %v, want ErrNotSealed", name, err)
		}
	}
	// Bound to the cookie's name: a sealed value moved to another cookie
	// does not open.
	if _, err := s.Open(nil, "sid", sealed); !errors.Is(err, session.ErrNotSealed) {
		t.Errorf("a value sealed for remember_token opened as sid: %v", err)
	}
}

func TestSeal_Rotation_OldKeyOpensNewKeySeals(t *testing.T) {
	old := newSealer(t, sealKeyOld)
	before, _ := old.Seal("remember_token", "42|secret")
	rotated := newSealer(t, sealKey, sealKeyOld)
	if got, err := rotated.Open(nil, "remember_token", before); err != nil || string(got) != "42|secret" {
		t.Fatalf("a value sealed before the rotation: %q, %v", got, err)
	}
	after, _ := rotated.Seal("remember_token", "42|secret")
	if _, err := old.Open(nil, "remember_token", after); err == nil {
		t.Fatal("a value sealed after the rotation opened with the old key only: it was not sealed with the new one")
	}
	retired := newSealer(t, sealKey)
	if _, err := retired.Open(nil, "remember_token", before); !errors.Is(err, session.ErrNotSealed) {
		t.Fatalf("a value sealed with a retired key: %v, want ErrNotSealed", err)
	}
}

func TestSeal_SizeLimit(t *testing.T) {
	s := newSealer(t, sealKey)
	v := strings.Repeat("x", session.MaxSealedValue)
	sealed, err := s.Seal("c", v)
	if err != nil {
		t.Fatal(err)
	}
	if len("c=")+len(sealed) > 4096 {
		t.Errorf("the longest sealable value seals to %d bytes, over the browsers' 4 KB", len(sealed))
	}
	if len(sealed) != len(v)+session.SealOverhead(len(v)) {
		t.Errorf("SealOverhead(%d) = %d, sealed %d", len(v), session.SealOverhead(len(v)), len(sealed)-len(v))
	}
	if _, err := s.Seal("c", v+"x"); !errors.Is(err, session.ErrSealTooLong) {
		t.Errorf("a value over MaxSealedValue: %v, want ErrSealTooLong", err)
	}
}

func TestSeal_Keys(t *testing.T) {
	if _, err := session.NewSealer(); err == nil {
		t.Error("no keys accepted")
	}
	if _, err := session.NewSealer([]byte("short")); err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Errorf("a short key: %v", err)
	}
}

func TestSeal_OpenDoesNotAllocate(t *testing.T) {
	s := newSealer(t, sealKey)
	sealed, _ := s.Seal("remember_token", "42|5f4dcc3b5aa765d61d8327deb882cf99")
	dst := make([]byte, 0, 256)
	_, _ = s.Open(dst, "remember_token", sealed) // warm the buffer pool
	if n := testing.AllocsPerRun(100, func() { _, _ = s.Open(dst[:0], "remember_token", sealed) }); n != 0 {
		t.Errorf("Open allocates %v times", n)
	}
}

func BenchmarkSeal_Open(b *testing.B) {
	s := newSealer(b, sealKey)
	sealed, _ := s.Seal("remember_token", "42|5f4dcc3b5aa765d61d8327deb882cf99")
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(dst[:0], "remember_token", sealed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal_Seal(b *testing.B) {
	s := newSealer(b, sealKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal("remember_token", "42|5f4dcc3b5aa765d61d8327deb882cf99"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSeal_OneSpellingPerSealedValue: the guard revokes a sealed value by
// its text, so no other text may open to the same cookie. base64 without
// padding leaves unused bits in the last character, and a lenient decoder
// ignores them (and skips CR and LF): each of those respellings would be a
// credential never revoked, opening to the app's value.
func TestSeal_OneSpellingPerSealedValue(t *testing.T) {
	s := newSealer(t, sealKey)
	for n := range 3 { // the three lengths of the last base64 group
		value := "42|5f4dcc3b5aa765d61d8327deb882cf99"[:33+n]
		sealed, err := s.Seal("remember_token", value)
		if err != nil {
			t.Fatal(err)
		}
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		for _, c := range alphabet {
			other := sealed[:len(sealed)-1] + string(c)
			if other == sealed {
				continue
			}
			if got, err := s.Open(nil, "remember_token", other); err == nil {
				t.Errorf("%q (the last character changed) opens to %q too", other, got)
			}
		}
		for _, other := range []string{sealed[:5] + "\n" + sealed[5:], sealed + "\r", sealed + "="} {
			if _, err := s.Open(nil, "remember_token", other); err == nil {
				t.Errorf("%q opens too", other)
			}
		}
	}
}

func TestSeal_FromSigningKeys_RotateWithThem(t *testing.T) {
	old, _ := session.NewKeys(sealKeyOld)
	s, err := old.Sealer()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.Seal("remember_token", "42|secret")
	rotated, _ := session.NewKeys(sealKey, sealKeyOld)
	r, _ := rotated.Sealer()
	if got, err := r.Open(nil, "remember_token", before); err != nil || string(got) != "42|secret" {
		t.Fatalf("sealed with the old signing key, after the rotation: %q, %v", got, err)
	}
	// The same as sealing with those keys given as seal keys.
	direct := newSealer(t, sealKeyOld)
	if _, err := direct.Open(nil, "remember_token", before); err != nil {
		t.Fatalf("Keys.Sealer is not NewSealer of the same keys: %v", err)
	}
}
