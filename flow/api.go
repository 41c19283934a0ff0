package flow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/caddy-logout/caddy-logout/session"
)

// MaxAPIBody caps the API logout body: {"session_token": "..."} with a
// token of MaxCredentialLength fits; anything larger is not a logout.
const MaxAPIBody = MaxCredentialLength + 1024

// serveAPI answers DELETE <prefix>/api with {"session_token": "..."}:
// revoke that token. Idempotent; sets and clears no cookies. Its answers
// are Kratos's, reasons word for word (those of Ory's body decoder).
func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Cookie")
	if !allowOnly(w, r, http.MethodDelete) {
		if r.Method != http.MethodOptions {
			g.cfg.Observer.Logout("api", "bad_request")
			g.auditLogout("api", "bad_request", nil, r)
		}
		return
	}
	setNoCache(w.Header())
	fail := func(e *Error, result string) {
		g.cfg.Observer.Logout("api", result)
		g.auditLogout("api", result, nil, r)
		writeJSONError(w, e)
	}

	token, e := readSessionToken(w, r)
	if e != nil {
		result := "bad_request"
		if e.Code == http.StatusForbidden {
			result = "forbidden"
		}
		fail(e, result)
		return
	}

	// In front of a legacy app the gateway cannot prove a token unknown,
	// and revoking a token that never existed is harmless: revoke it.
	id := session.IDOf(token)
	if err := g.cfg.Store.Revoke(r.Context(), id, g.now().Add(g.cfg.SessionLifetime)); err != nil {
		g.storeErrorLog("api", id, err)
		fail(errStoreUnavailable(), "store_error")
		return
	}
	g.cfg.Observer.Logout("api", "ok")
	g.auditLogout("api", "ok", &id, r)
	w.WriteHeader(http.StatusNoContent)
}

// readSessionToken checks and decodes the API body in Kratos's order: a
// body must be announced (Content-Length zero is refused), be JSON by its
// Content-Type (parameters allowed), and decode; a body that decodes
// without a usable token is Kratos's 403.
func readSessionToken(w http.ResponseWriter, r *http.Request) (string, *Error) {
	if r.ContentLength == 0 {
		return "", errBadRequest(`Unable to decode HTTP Request Body because its HTTP Header "Content-Length" is zero.`)
	}
	if !isJSONContentType(r.Header.Get("Content-Type")) {
		return "", errBadRequest(fmt.Sprintf(`HTTP %s Request used unknown HTTP Header "Content-Type: %s", only [application/json] are supported.`,
			r.Method, r.Header.Get("Content-Type")))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", errBadRequest("The request body is too large.")
		}
		return "", errBadRequest(fmt.Sprintf("Unable to read HTTP POST body: %s", err))
	}
	return decodeSessionToken(body)
}

// isJSONContentType reports whether a Content-Type names application/json,
// as Ory's decoder reads it: a comma-separated list of media types, any of
// which may be it (parameters allowed), up to the first that does not parse.
func isJSONContentType(v string) bool {
	for _, part := range strings.Split(v, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			return false
		}
		if mediaType == "application/json" {
			return true
		}
	}
	return false
}

// performNativeLogoutBody is the API logout body. The type has Kratos's
// name because Go's decoder names it in its messages, which are the
// reason of a 400.
type performNativeLogoutBody struct {
	SessionToken string `json:"session_token"`
}

// decodeSessionToken parses an API logout body as Kratos does: the first
// JSON value, decoded by encoding/json into the body type (so keys match
// case-insensitively, unknown keys are ignored, a null token is none). A
// token that is empty, too long or holds control characters is the 403 of
// a token that does not exist.
func decodeSessionToken(body []byte) (string, *Error) {
	var b performNativeLogoutBody
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&b); err != nil {
		return "", errBadRequest("Unable to decode JSON payload: " + err.Error())
	}
	token := b.SessionToken
	if token == "" || len(token) > MaxCredentialLength || !printable(token) {
		return "", errSessionTokenInvalid()
	}
	return token, nil
}

// printable rejects control characters: no real session token has them.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}
