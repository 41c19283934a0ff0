package flow

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
)

// Error is one of the flows' error answers: Kratos's error envelope for
// JSON clients, a redirect to the error UI or a small page for browsers.
type Error struct {
	// ID is set only where Kratos sets one (session_inactive,
	// self_service_flow_return_to_forbidden): clients branch on it, so an
	// id of our own would be one they cannot know. ID and Reason are left
	// out when empty, as Kratos's herodot does.
	ID     string `json:"id,omitempty"`
	Code   int    `json:"code"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Message is the generic text for the status code, as Ory's herodot
	// library words it.
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Reason }

// newError fills in Status and Message from the code.
func newError(code int, id, reason string) *Error {
	return &Error{ID: id, Code: code, Status: http.StatusText(code), Reason: reason, Message: genericMessage(code)}
}

func genericMessage(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "The request was malformed or contained invalid parameters"
	case http.StatusUnauthorized:
		return "request does not have a valid authentication session"
	case http.StatusForbidden:
		return "The requested action was forbidden"
	case http.StatusServiceUnavailable:
		return "The service is temporarily unavailable"
	default:
		return "An internal server error occurred, please contact the system administrator"
	}
}

// The flows' errors, worded as Kratos words them. Kratos gives most of its
// errors no id; so do we.
func errMissingToken() *Error {
	return newError(http.StatusBadRequest, "", "Please include a token in the URL query.")
}

func errNoSession() *Error {
	return newError(http.StatusUnauthorized, "session_inactive", "No active session was found in this request.")
}

func errTokenMismatch() *Error {
	return newError(http.StatusForbidden, "",
		"Unable to log out because the logout token in the URL query does not match the session cookie.")
}

func errSessionTokenInvalid() *Error {
	return newError(http.StatusForbidden, "",
		"The provided Ory Session Token could not be found, is invalid, or otherwise malformed.")
}

func errReturnToForbidden(err error) *Error {
	return newError(http.StatusBadRequest, "self_service_flow_return_to_forbidden", err.Error())
}

func errBadRequest(reason string) *Error {
	return newError(http.StatusBadRequest, "", reason)
}

// errStoreUnavailable has no Kratos counterpart: Kratos's store is its own
// database, and it answers a 500 when that fails.
func errStoreUnavailable() *Error {
	return newError(http.StatusServiceUnavailable, "",
		"The session store cannot be reached; please try again in a moment.")
}

// errUnknownError is what Kratos answers for an error id it does not hold
// (or no id at all): its database layer's 404, which has no reason.
func errUnknownError() *Error {
	e := newError(http.StatusNotFound, "", "")
	e.Message = "Unable to locate the resource"
	return e
}

// allowOnly answers a request to an endpoint that serves only methods the
// way Kratos's router (httprouter) does, and reports whether the request
// may go on. OPTIONS gets 200 with Allow; any other method 405 text/plain
// "Method Not Allowed" with Allow (the methods and OPTIONS, sorted, as the
// router lists them). Neither is about a session, so neither carries
// Cache-Control.
func allowOnly(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	allow := append([]string{http.MethodOptions}, methods...)
	slices.Sort(allow)
	h := w.Header()
	h.Del("Cache-Control")
	h.Set("Allow", strings.Join(allow, ", "))
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return false
	}
	http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	return false
}

// envelope is the JSON shape of an error response.
type envelope struct {
	Error *Error `json:"error"`
}

// writeJSONError answers with Kratos's error envelope.
func writeJSONError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	setErrorID(h, e)
	w.WriteHeader(e.Code)
	_ = json.NewEncoder(w).Encode(envelope{Error: e})
}

// setErrorID names the error's id in Ory-Error-Id, when it has one.
func setErrorID(h http.Header, e *Error) {
	if e.ID != "" {
		h.Set("Ory-Error-Id", e.ID)
	}
}

// writeError answers a JSON client with the envelope and a browser with a
// redirect to the error UI (or a plain page when none is configured).
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, e *Error, browser bool) {
	setNoCache(w.Header())
	if !browser {
		writeJSONError(w, e)
		return
	}
	setErrorID(w.Header(), e)
	if g.cfg.ErrorURL != nil {
		u := *g.cfg.ErrorURL
		q := u.Query()
		q.Set("id", g.sealError(e))
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	writeErrorPage(w, e)
}

// writeErrorPage is the browser's answer when no error UI is configured.
func writeErrorPage(w http.ResponseWriter, e *Error) {
	h := w.Header()
	setErrorID(h, e)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(e.Code)
	fmt.Fprintf(w, "<!doctype html>\n<title>%d %s</title>\n<h1>%d %s</h1>\n<p>%s</p>\n",
		e.Code, html.EscapeString(e.Status), e.Code, html.EscapeString(e.Status), html.EscapeString(e.Reason))
}

// maxSealedReason bounds the reason carried inside an error id.
const maxSealedReason = 512

// errorIDLifetime is how long the error UI may fetch an error by its id.
const errorIDLifetime = 24 * time.Hour

// sealError turns an error into a self-contained, signed id, so that any
// node can serve GET /self-service/errors?id= without shared state.
func (g *Gateway) sealError(e *Error) string {
	if len(e.Reason) > maxSealedReason {
		// Reasons can echo a client's (capped, but escaped) return_to; the
		// id travels in a URL, so keep it well inside what Open accepts.
		short := *e
		short.Reason = strings.ToValidUTF8(e.Reason[:maxSealedReason], "") + "…"
		e = &short
	}
	body, _ := json.Marshal(e)
	payload := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint64(payload, uint64(g.now().Unix()))
	return g.cfg.Keys.Seal(session.PurposeErrorID, append(payload, body...), nil)
}

// openError reverses sealError; it fails for forged or expired ids.
func (g *Gateway) openError(id string) (*Error, time.Time, error) {
	p, err := g.cfg.Keys.Open(session.PurposeErrorID, id, nil)
	if err != nil || len(p) < 8 {
		return nil, time.Time{}, session.ErrInvalidToken
	}
	created := time.Unix(int64(binary.BigEndian.Uint64(p[:8])), 0)
	if g.now().Sub(created) > errorIDLifetime {
		return nil, time.Time{}, session.ErrInvalidToken
	}
	var e Error
	if err := json.Unmarshal(p[8:], &e); err != nil {
		return nil, time.Time{}, session.ErrInvalidToken
	}
	return &e, created, nil
}

// flowError is what Kratos's GET /self-service/errors answers, and what
// its error UI and SDK (FlowError) read.
type flowError struct {
	ID        string    `json:"id"`
	Error     *Error    `json:"error"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// serveErrors answers GET <errors path>?id=<sealed id> as Kratos does: the
// id is read from ?error= first (what some error UIs send), then ?id=; an
// unknown, forged, expired or missing one is its 404.
func (g *Gateway) serveErrors(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Cookie")
	if !allowOnly(w, r, http.MethodGet) {
		return
	}
	setNoCache(w.Header())
	q := r.URL.Query()
	id := q.Get("error")
	if id == "" {
		id = q.Get("id")
	}
	e, created, err := g.openError(id)
	if err != nil {
		writeJSONError(w, errUnknownError())
		return
	}
	writeJSON(w, http.StatusOK, flowError{ID: id, Error: e, CreatedAt: created.UTC(), UpdatedAt: created.UTC()})
}

// writeJSON answers a success with a JSON body.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// setNoCache marks an endpoint's answer as never to be cached: it carries
// tokens or depends on the session.
func setNoCache(h http.Header) {
	h.Set("Cache-Control", "private, no-cache, no-store, must-revalidate")
}
