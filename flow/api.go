package flow

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/caddy-logout/caddy-logout/session"
)

// MaxAPIBody caps the API logout body: {"session_token": "..."} with a
// token of MaxCredentialLength fits; anything larger is not a logout.
const MaxAPIBody = MaxCredentialLength + 1024

// serveAPI answers DELETE <prefix>/api with {"session_token": "..."}:
// revoke that token. Idempotent; sets and clears no cookies.
func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request) {
	setNoCache(w.Header())
	fail := func(e *Error, result string) {
		g.cfg.Observer.Logout("api", result)
		g.auditLogout("api", result, nil, r)
		writeJSONError(w, e)
	}

	if r.Method != http.MethodDelete {
		w.Header().Set("Allow", "DELETE")
		fail(errMethodNotAllowed(r.Method), "bad_request")
		return
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

// readSessionToken decodes the API body. Malformed bodies are 400s; a
// well-formed body without a usable token is Kratos's 403.
func readSessionToken(w http.ResponseWriter, r *http.Request) (string, *Error) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		return "", errBadRequest("The request body must be JSON, sent with Content-Type: application/json.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", errBadRequest("The request body is too large.")
		}
		return "", errBadRequest("The request body could not be read.")
	}
	return decodeSessionToken(body)
}

// decodeSessionToken parses an API logout body: a JSON object whose
// session_token is a non-empty string.
func decodeSessionToken(body []byte) (string, *Error) {
	if len(body) == 0 {
		return "", errBadRequest("The request body is empty; send {\"session_token\": \"...\"}.")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return "", errBadRequest("The request body must be a JSON object such as {\"session_token\": \"...\"}.")
	}
	raw, ok := fields["session_token"]
	if !ok || string(raw) == "null" {
		return "", errSessionTokenInvalid()
	}
	var token string
	if err := json.Unmarshal(raw, &token); err != nil {
		return "", errBadRequest("session_token must be a string.")
	}
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
