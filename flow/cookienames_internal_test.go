package flow

import "testing"

func TestCookieGlob_Matches(t *testing.T) {
	tests := []struct {
		pattern, name string
		match         bool
	}{
		{"DW*", "DW3e7a1f0c4c0f6b1e2d9a8b7c6d5e4f3a", true},
		{"DW*", "DW", true},
		{"DW*", "dw3e7a", true}, // names compare case-insensitively
		{"DW*", "XDW3e7a", false},
		{"DW*", "D", false},
		{"wordpress_logged_in_*", "wordpress_logged_in_5d41402abc4b2a76b9719d911017c592", true},
		{"wordpress_logged_in_*", "wordpress.logged_in_5d41", true}, // PHP reads '.' as '_'
		{"wordpress_logged_in_*", "WORDPRESS_LOGGED_IN_5D41", true},
		{"wordpress_logged_in_*", "wordpress_5d41402abc4b2a76b9719d911017c592", false},
		{"wordpress_sec_*", "wordpress_sec_5d41", true},
		{"wordpress_*", "wordpress_test_cookie", true},
		{"*_session", "_myapp_session", true},
		{"*_session", "_myapp_session_x", false},
		{"_*_session", "_shop_session", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyycd", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"a**b", "ab", true},
		{"*sid*", "PHPSESSID", true},
		{"*jsession*", "PHPSESSID", false},
		{"*sess*", "PHPSESSID", true},
	}
	for _, tt := range tests {
		if got := newCookieGlob(tt.pattern).matches(tt.name); got != tt.match {
			t.Errorf("%q matches %q: %v, want %v", tt.pattern, tt.name, got, tt.match)
		}
	}
}

func TestCookieGlob_MatchDoesNotAllocate(t *testing.T) {
	g := newCookieGlob("wordpress_logged_in_*")
	matched := false
	if n := testing.AllocsPerRun(100, func() { matched = g.matches("wordpress_logged_in_5d41402abc4b2a76b9719d911017c592") }); n != 0 || !matched {
		t.Errorf("%v allocations per match", n)
	}
}
