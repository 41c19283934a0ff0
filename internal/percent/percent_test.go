package percent_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/internal/percent"
)

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		in, want string
		changed  bool
	}{
		{"", "", false},
		{"abc", "abc", false},
		{"%61bc", "abc", true},
		{"%6a%6A", "jj", true},
		{"a%2Bb+c", "a+b+c", true}, // '+' is the caller's business
		{"%zz%4", "%zz%4", false},  // malformed escapes stay
		{"%", "%", false},
		{"100%", "100%", false},
		{"%2561", "%61", true}, // one round
		{"%00%ff", "\x00\xff", true},
	} {
		got, changed := percent.Decode(c.in)
		if got != c.want || changed != c.changed {
			t.Errorf("Decode(%q) = %q, %v; want %q, %v", c.in, got, changed, c.want, c.changed)
		}
		b := []byte(c.in)
		if n := percent.DecodeInPlace(b); string(b[:n]) != c.want {
			t.Errorf("DecodeInPlace(%q) = %q, want %q", c.in, b[:n], c.want)
		}
	}
	if got := string(percent.Append(nil, "a+b%2B%20", true)); got != "a b+ " {
		t.Errorf("Append with plus: %q", got)
	}
}

func TestDecode_NoEscapeDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { percent.Decode("plain-value-without-escapes") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzDecode holds the decoder to net/url's, which refuses what is
// malformed: where it accepts s, both agree (with and without '+' as a
// space), and the three ways in agree with each other always.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "abc", "%61", "%zz", "a+b", "%2B", "%", "%4", "%%41", "\xff%fF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, _ := percent.Decode(s)
		if want, err := url.PathUnescape(s); err == nil && got != want {
			t.Fatalf("Decode(%q) = %q, net/url %q", s, got, want)
		}
		if want, err := url.QueryUnescape(s); err == nil && string(percent.Append(nil, s, true)) != want {
			t.Fatalf("Append(%q, plus) = %q, net/url %q", s, percent.Append(nil, s, true), want)
		}
		b := []byte(s)
		if n := percent.DecodeInPlace(b); string(b[:n]) != got || string(percent.Append(nil, s, false)) != got {
			t.Fatalf("Decode(%q) = %q, DecodeInPlace %q, Append %q", s, got, b[:n], percent.Append(nil, s, false))
		}
		if !strings.Contains(s, "%") && got != s {
			t.Fatalf("Decode(%q) changed a value without escapes", s)
		}
	})
}
