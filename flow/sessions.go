package flow

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// The self-service session endpoints, Kratos-compatible (its frontend
// API's listMySessions, disableMyOtherSessions and disableMySession),
// served beside /self-service when sessions have owners:
//
//	GET    /sessions        the current session's owner's other active sessions
//	DELETE /sessions        revoke them: 200 {"count": n}
//	DELETE /sessions/{id}   revoke one of them: 204
//
// "The owner" is the (iss, sub) recorded for the session the request
// carries (X-Session-Token, then Authorization: Bearer, then the session
// cookie, in Kratos's order). Only a confirmed owner may act on its other
// sessions: one the client merely claimed (a JWT it sent itself, which the
// gateway does not verify) could be anyone's.

// isSessionPath reports whether p is DELETE <prefix>{id}: the one route
// under the sessions path that is ours. Other paths and methods there
// (Kratos's /sessions/whoami) stay the app's.
func isSessionPath(p, prefix, method string) bool {
	rest, ok := strings.CutPrefix(p, prefix)
	return ok && method == http.MethodDelete && rest != "" && rest != "whoami" && !strings.Contains(rest, "/")
}

func (g *Gateway) serveSessions(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	setNoCache(h)
	h.Add("Vary", "Cookie")
	if rest, ok := strings.CutPrefix(r.URL.Path, g.sessionPrefix); ok {
		g.disableMySession(w, r, rest)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		g.listMySessions(w, r)
	case http.MethodDelete:
		g.disableMyOtherSessions(w, r)
	default: // Kratos's router's answer
		allowOnly(w, r, http.MethodGet, http.MethodHead, http.MethodDelete)
	}
}

// selfServiceSession finds the request's session, not revoked.
func (g *Gateway) selfServiceSession(r *http.Request) (session.ID, *Error) {
	var found credential
	ok := false
	g.eachCredential(r, func(c credential) bool {
		// Kratos's order: a token first, the cookie otherwise.
		if !ok || !c.isCookie() && found.isCookie() {
			found, ok = c, true
		}
		return c.isCookie()
	})
	if !ok {
		return session.ID{}, errNoValidSession()
	}
	if len(found.value) > MaxCredentialLength {
		return session.ID{}, errCredentialTooLong()
	}
	id := found.id()
	revoked, err := g.cfg.Store.Revoked(r.Context(), id)
	switch {
	case err != nil:
		g.storeErrorLog("sessions", id, err)
		return session.ID{}, errStoreUnavailable()
	case revoked:
		return session.ID{}, errNoValidSession()
	}
	return id, nil
}

// ownerOf is the confirmed owner of the request's session.
func (g *Gateway) ownerOf(r *http.Request, id session.ID) (session.OwnerKey, *Error) {
	rec, ok, err := g.cfg.Owners.OwnerOf(r.Context(), id)
	switch {
	case err != nil:
		g.storeErrorLog("sessions", id, err)
		return session.OwnerKey{}, errStoreUnavailable()
	case !ok:
		return session.OwnerKey{}, errOwnerUnknown()
	case !rec.Confirmed:
		return session.OwnerKey{}, errOwnerUnconfirmed()
	}
	return session.ByIssuerSubject(rec.Owner.Issuer, rec.Owner.Subject), nil
}

// currentOwner is selfServiceSession and ownerOf.
func (g *Gateway) currentOwner(r *http.Request) (session.ID, session.OwnerKey, *Error) {
	id, e := g.selfServiceSession(r)
	if e != nil {
		return id, session.OwnerKey{}, e
	}
	key, e := g.ownerOf(r, id)
	return id, key, e
}

// kratosSession is Kratos's session object, with what the gateway knows:
// when it first and last saw the session (authenticated_at is the ID
// token's auth_time when it had one), and until when it keeps the record.
// Authentication methods, devices and the identity are Kratos's to know.
type kratosSession struct {
	ID                    string     `json:"id"`
	Active                bool       `json:"active"`
	ExpiresAt             time.Time  `json:"expires_at"`
	AuthenticatedAt       time.Time  `json:"authenticated_at"`
	AuthenticationMethods []struct{} `json:"authentication_methods"`
	IssuedAt              time.Time  `json:"issued_at"`
	Identity              *struct{}  `json:"identity"`
	Devices               []struct{} `json:"devices"`
}

// listMySessions answers GET /sessions: the owner's other active
// sessions, most recently authenticated first, paginated as Kratos does.
func (g *Gateway) listMySessions(w http.ResponseWriter, r *http.Request) {
	current, key, e := g.currentOwner(r)
	if e != nil {
		writeJSONError(w, e)
		return
	}
	recs, err := g.cfg.Owners.Sessions(r.Context(), key)
	if err != nil {
		g.storeErrorLog("sessions", current, err)
		writeJSONError(w, errStoreUnavailable())
		return
	}
	recs = slices.DeleteFunc(recs, func(s session.OwnerSession) bool { return s.Revoked || s.ID == current })
	slices.SortStableFunc(recs, func(a, b session.OwnerSession) int { return b.Since.Compare(a.Since) })

	page, perPage := parsePagination(r.URL.Query())
	paginationHeader(w, *r.URL, len(recs), page, perPage)
	out := make([]kratosSession, 0, perPage)
	for _, s := range recs[min(page*perPage, len(recs)):min((page+1)*perPage, len(recs))] {
		out = append(out, kratosSession{
			ID: s.ID.PublicID(), Active: true, ExpiresAt: s.Until.UTC(), AuthenticatedAt: s.Since.UTC(),
			AuthenticationMethods: []struct{}{}, IssuedAt: s.FirstSeen.UTC(), Devices: []struct{}{},
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// disableMyOtherSessions answers DELETE /sessions: revoke every other
// recorded session of the owner, on every node.
func (g *Gateway) disableMyOtherSessions(w http.ResponseWriter, r *http.Request) {
	current, key, e := g.currentOwner(r)
	if e != nil {
		writeJSONError(w, e)
		return
	}
	n, err := g.revokeOwner(r.Context(), key, "self_service", current)
	if err != nil {
		g.storeErrorLog("sessions", current, err)
		writeJSONError(w, errStoreUnavailable())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Count int `json:"count"`
	}{n})
}

// disableMySession answers DELETE /sessions/{id}: revoke that one of the
// owner's sessions. An ID that is none of them is a 204 that changes
// nothing, as in Kratos.
func (g *Gateway) disableMySession(w http.ResponseWriter, r *http.Request, rawID string) {
	current, e := g.selfServiceSession(r)
	if e != nil {
		writeJSONError(w, e)
		return
	}
	publicID, err := parseUUID(rawID)
	if err != nil {
		writeJSONError(w, newKratosError(http.StatusBadRequest, err.Error()))
		return
	}
	if publicID == current.PublicID() {
		writeJSONError(w, newKratosError(http.StatusBadRequest, "cannot revoke current session"))
		return
	}
	key, e := g.ownerOf(r, current)
	if e != nil {
		writeJSONError(w, e)
		return
	}
	found, err := g.cfg.Owners.RevokeSession(r.Context(), key, publicID, g.cfg.SessionLifetime)
	if err != nil {
		g.storeErrorLog("sessions", current, err)
		writeJSONError(w, errStoreUnavailable())
		return
	}
	if found {
		g.audit.Info("session revoked", append(key.LogFields(), zap.String("via", "self_service"),
			zap.String("session_public_id", publicID), zap.String("by_session", current.Short()),
			zap.String("remote_addr", r.RemoteAddr))...)
	}
	// Kratos's writer sets the JSON type on its 204 too.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusNoContent)
}

// Errors of the session endpoints, as Kratos words them.

// errNoValidSession is Kratos's herodot ErrUnauthorized with its reason:
// no id.
func errNoValidSession() *Error {
	return &Error{Code: http.StatusUnauthorized, Status: http.StatusText(http.StatusUnauthorized),
		Reason: "No valid session cookie found.", Message: "The request could not be authorized"}
}

func errOwnerUnknown() *Error {
	return newError(http.StatusForbidden, "session_owner_unknown",
		"The gateway has not seen this session with an identity yet, so it knows no other sessions of its owner.")
}

func errOwnerUnconfirmed() *Error {
	return newError(http.StatusForbidden, "session_owner_unconfirmed",
		"This session's identity was sent by the client, not set by the server, so it cannot act on other sessions.")
}

// newKratosError is a herodot error whose message says what went wrong,
// as Kratos writes them for a bad session ID: no id, no reason.
func newKratosError(code int, message string) *Error {
	return &Error{Code: code, Status: http.StatusText(code), Message: message}
}

// Pagination as Kratos's listMySessions reads and writes it (Ory's
// migration paginator): page_token/page_size, or the older page/per_page;
// 250 a page by default, at most 1000.
const (
	defaultPerPage = 250
	maxPerPage     = 1000
)

func parsePagination(q url.Values) (page, perPage int) {
	perPage = defaultPerPage
	var pageKey, sizeKey string
	offset := -1
	if q.Has("page_token") || q.Has("page_size") {
		sizeKey = "page_size"
		if t := q.Get("page_token"); t != "" {
			offset = decodePageToken(t)
		}
	} else {
		pageKey, sizeKey = "page", "per_page"
	}
	if n, err := strconv.Atoi(q.Get(sizeKey)); err == nil {
		perPage = n
	}
	perPage = min(max(perPage, 1), maxPerPage)
	switch {
	case pageKey != "":
		if n, err := strconv.Atoi(q.Get(pageKey)); err == nil {
			page = n
		}
	case offset > 0:
		page = offset / perPage
	}
	return max(page, 0), perPage
}

// A page token is base64url of {"offset":"<n>","v":2}.
func decodePageToken(t string) int {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.Index(s, `"offset":"`)
	if i < 0 {
		return 0
	}
	s = s[i+len(`"offset":"`):]
	n, err := strconv.Atoi(s[:max(0, strings.IndexByte(s, '"'))])
	if err != nil {
		return 0
	}
	return n
}

func encodePageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"offset":"%d","v":2}`, offset))
}

// paginationHeader writes X-Total-Count and the Link header with the
// first, next, prev and last pages, as Ory's pagination does.
func paginationHeader(w http.ResponseWriter, u url.URL, total, page, perPage int) {
	offset := page * perPage
	lastOffset := (total / perPage) * perPage
	if total%perPage == 0 {
		lastOffset = total - perPage
	}
	link := func(rel string, size, offset int) string {
		v := u
		q := v.Query()
		q.Set("page_size", strconv.Itoa(size))
		q.Set("page_token", encodePageToken(offset))
		q.Set("per_page", strconv.Itoa(size))
		q.Set("page", strconv.Itoa(offset/size))
		v.RawQuery = q.Encode()
		return fmt.Sprintf("<%s>; rel=%q", v.String(), rel)
	}
	h := w.Header()
	h.Set("X-Total-Count", strconv.Itoa(total))
	var links []string
	switch {
	case offset >= lastOffset && total == 0:
		links = []string{link("first", perPage, 0), link("next", perPage, (offset/perPage+1)*perPage), link("prev", perPage, (offset/perPage-1)*perPage)}
	case offset >= lastOffset && total <= perPage:
		links = []string{link("first", total, 0)}
	case offset >= lastOffset:
		links = []string{link("first", perPage, 0), link("prev", perPage, lastOffset-perPage)}
	case offset < perPage:
		links = []string{link("next", perPage, perPage), link("last", perPage, lastOffset)}
	default:
		links = []string{link("first", perPage, 0), link("next", perPage, (offset/perPage+1)*perPage),
			link("prev", perPage, (offset/perPage-1)*perPage), link("last", perPage, lastOffset)}
	}
	h.Set("Link", strings.Join(links, ","))
}

// parseUUID reads a session ID in any spelling Kratos accepts (canonical,
// 32 hex digits, braced, urn:uuid:) and returns it canonical; its errors
// are Kratos's, word for word.
func parseUUID(s string) (string, error) {
	b := s
	switch len(b) {
	case 32, 36:
	case 34, 38:
		if b[0] != '{' || b[len(b)-1] != '}' {
			return "", fmt.Errorf("uuid: incorrect UUID format in string %q", s)
		}
		b = b[1 : len(b)-1]
	case 41, 45:
		if b[:9] != "urn:uuid:" {
			return "", fmt.Errorf("uuid: incorrect UUID format in string %q", b[:9])
		}
		b = b[9:]
	default:
		return "", fmt.Errorf("uuid: incorrect UUID length %d in string %q", len(b), b)
	}
	if len(b) == 36 {
		if b[8] != '-' || b[13] != '-' || b[18] != '-' || b[23] != '-' {
			return "", fmt.Errorf("uuid: incorrect UUID format in string %q", b)
		}
		b = b[0:8] + b[9:13] + b[14:18] + b[19:23] + b[24:]
	}
	raw, err := hex.DecodeString(b)
	if err != nil || len(raw) != 16 {
		return "", errInvalidUUIDFormat
	}
	h := hex.EncodeToString(raw)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

var errInvalidUUIDFormat = fmt.Errorf("uuid: invalid UUID format")
