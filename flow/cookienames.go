package flow

// isSessionCookie reports whether a cookie of this name (as a browser
// sends it, or an app sets it) is one of the configured session cookies.
func (g *Gateway) isSessionCookie(name string) bool {
	for _, n := range g.cfg.Cookies {
		if sameCookieName(name, n) {
			return true
		}
	}
	return false
}
