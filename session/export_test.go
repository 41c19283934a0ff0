package session

// CookieRounds is how many rounds of decoding CookieID spends on v, and
// MaxCookieRounds its limit: the promises hold for values within it.
func CookieRounds(v string) int {
	_, n := canonicalCookie(nil, v)
	return n
}

const MaxCookieRounds = maxCookieRounds
