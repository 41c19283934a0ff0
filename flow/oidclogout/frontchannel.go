package oidclogout

import (
	"net/http"
	"net/url"

	"go.uber.org/zap"
)

// ServeFrontChannel answers a Front-Channel Logout 1.0 request: the
// provider's logout page loads this URL in an iframe, with ?iss=&sid= when
// the client requires the session. The URL carries no proof of anything,
// so it only ever ends the session this browser carries: when its recorded
// (iss, sid) is the one named, or when none is named. A session named in
// the URL that is not this browser's is never touched, so the URL is no
// way to log anyone else out. The answer is an empty page that must not be
// cached, whatever happened: no redirect, nothing told.
func (rcv *Receiver) ServeFrontChannel(w http.ResponseWriter, r *http.Request, browser Browser) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	result := rcv.frontChannel(w, r, browser)
	rcv.cfg.Observer.FrontChannel(result)
	status := http.StatusOK
	switch result {
	case "bad_request":
		status = http.StatusBadRequest
	case "method":
		h.Set("Allow", "GET, HEAD")
		status = http.StatusMethodNotAllowed
	}
	w.WriteHeader(status)
}

func (rcv *Receiver) frontChannel(w http.ResponseWriter, r *http.Request, browser Browser) string {
	switch r.Method {
	case http.MethodGet:
	case http.MethodHead:
		return "head" // link checkers and prefetchers never log anyone out
	default:
		return "method"
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil || len(q["iss"]) > 1 || len(q["sid"]) > 1 {
		return "bad_request"
	}
	iss, sid := q.Get("iss"), q.Get("sid")
	if (iss == "") != (sid == "") || len(iss) > maxClaimLength || len(sid) > maxClaimLength {
		// Front-Channel Logout 1.0, 2: if either is included, both must be.
		return "bad_request"
	}
	named := iss != ""
	if named && iss != rcv.cfg.Issuer {
		return "mismatch"
	}
	asked, matched := false, false
	ended, err := browser.EndBrowserSession(w, r, func(recIss, recSID string, known bool) bool {
		asked = true
		matched = !named || known && recIss == iss && recSID == sid
		return matched
	})
	fields := []zap.Field{zap.String("issuer", rcv.cfg.Issuer), zap.String("sid", sid), zap.String("remote_addr", r.RemoteAddr)}
	switch {
	case err != nil:
		rcv.cfg.Logger.Warn("front-channel logout: ending the session failed", append(fields, zap.Error(err))...)
		return "store_error"
	case ended:
		rcv.audit.Info("front-channel logout: session ended", fields...)
		return "ended"
	case asked && !matched:
		return "mismatch"
	}
	return "no_session"
}
