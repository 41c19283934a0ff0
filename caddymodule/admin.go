package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI is the incident-response endpoint on Caddy's admin API:
//
//	POST /logout/revoke  {"session_token"|"cookie"|"id": "..."}  kill a session everywhere now
//	POST /logout/lookup  {"session_token"|"cookie"|"id": "..."}  is it revoked, and until when
//	POST /logout/revoke  {"subject": "..."} or {"iss", "sid"}    kill every session of an owner (identity)
//	POST /logout/lookup  {"subject": "..."} or {"iss", "sid"}    the owner's sessions
//	GET  /logout/status                                          stores, caches, journals
//
// Secrets travel in the body, never in the URL, so they stay out of
// access logs. Caddy rebuilds admin modules on every load and never cleans
// them up, so this one holds nothing: it works on the shared caches.
type adminAPI struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.logout", New: func() caddy.Module { return new(adminAPI) }}
}

// Provision implements caddy.Provisioner.
func (a *adminAPI) Provision(ctx caddy.Context) error {
	// Caddy provisions admin routers with the load's context, which names
	// no module: ctx.Logger() would be the root logger and these lines would
	// log as "audit", missing `include admin.api.logout.audit`.
	a.logger = ctx.Logger(a).Named("audit")
	return nil
}

// Routes implements caddy.AdminRouter.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/logout/revoke", Handler: caddy.AdminHandlerFunc(a.revoke)},
		{Pattern: "/logout/lookup", Handler: caddy.AdminHandlerFunc(a.lookup)},
		{Pattern: "/logout/status", Handler: caddy.AdminHandlerFunc(a.status)},
	}
}

// sessionRef names a session by one of its credentials or by its ID, or
// an owner by subject (with or without issuer) or by (issuer, sid).
type sessionRef struct {
	SessionToken string `json:"session_token,omitempty"`
	Cookie       string `json:"cookie,omitempty"`
	ID           string `json:"id,omitempty"`
	Subject      string `json:"subject,omitempty"`
	Issuer       string `json:"iss,omitempty"`
	SID          string `json:"sid,omitempty"`
}

// owner is the owner the ref names, or nil when it names a session.
func (ref sessionRef) owner() (*session.OwnerKey, error) {
	if ref.Subject == "" && ref.Issuer == "" && ref.SID == "" {
		return nil, nil
	}
	if ref.SessionToken != "" || ref.Cookie != "" || ref.ID != "" {
		return nil, badRequest(errors.New("name a session (session_token, cookie or id) or an owner (subject, iss, sid), not both"))
	}
	var key session.OwnerKey
	switch {
	case ref.Subject != "" && ref.SID != "":
		return nil, badRequest(errors.New(`name an owner by {"subject"}, {"iss", "subject"} or {"iss", "sid"}`))
	case ref.Subject != "" && ref.Issuer != "":
		key = session.ByIssuerSubject(ref.Issuer, ref.Subject)
	case ref.Subject != "":
		key = session.BySubject(ref.Subject)
	case ref.Issuer != "" && ref.SID != "":
		key = session.ByIssuerSession(ref.Issuer, ref.SID)
	default:
		return nil, badRequest(errors.New(`an identity provider session needs both iss and sid: {"iss", "sid"}`))
	}
	if err := key.Check(); err != nil {
		return nil, badRequest(err)
	}
	return &key, nil
}

// maxAdminBody caps admin request bodies like the API flow's.
const maxAdminBody = 32 << 10

// readRef reads the body: a session (its ID), or an owner (owner not nil).
func readRef(r *http.Request, method string) (id session.ID, owner *session.OwnerKey, err error) {
	if r.Method != method {
		return session.ID{}, nil, caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed; use %s", r.Method, method)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil || len(body) > maxAdminBody {
		return session.ID{}, nil, badRequest(errors.New("body too large or unreadable"))
	}
	var ref sessionRef
	if err := json.Unmarshal(body, &ref); err != nil {
		return session.ID{}, nil, badRequest(errors.New(`body must be JSON: {"session_token": "..."}, {"cookie": "..."}, {"id": "<64 hex digits>"}, {"subject": "..."} or {"iss": "...", "sid": "..."}`))
	}
	if owner, err := ref.owner(); owner != nil || err != nil {
		return session.ID{}, owner, err
	}
	id, err = ref.session()
	return id, nil, err
}

// session is the session the ref names.
func (ref sessionRef) session() (session.ID, error) {
	given := 0
	for _, v := range []string{ref.SessionToken, ref.Cookie, ref.ID} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return session.ID{}, badRequest(errors.New("name the session by exactly one of session_token, cookie or id (or an owner by subject, or iss and sid)"))
	}
	switch {
	case ref.SessionToken != "":
		return session.IDOf(ref.SessionToken), nil
	case ref.Cookie != "":
		return session.CookieID(ref.Cookie), nil
	}
	id, err := session.ParseID(ref.ID)
	if err != nil {
		return session.ID{}, badRequest(err)
	}
	return id, nil
}

func badRequest(err error) error {
	return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
}

// storeResult is one store's answer.
type storeResult struct {
	Store        string     `json:"store"`
	Revoked      bool       `json:"revoked"`
	RevokedUntil *time.Time `json:"revoked_until,omitempty"`
	Error        string     `json:"error,omitempty"`
}

type sessionAnswer struct {
	ID     string        `json:"id"`
	Stores []storeResult `json:"stores"`
}

// revoke revokes the session in every store some config uses: with a
// shared store (Redis) that reaches every node.
func (a *adminAPI) revoke(w http.ResponseWriter, r *http.Request) error {
	id, owner, err := readRef(r, http.MethodPost)
	if err != nil {
		return err
	}
	if owner != nil {
		return a.revokeOwner(w, r, *owner)
	}
	stores := activeStores()
	if len(stores) == 0 {
		return caddy.APIError{HTTPStatus: http.StatusConflict, Err: errors.New("no logout handler is configured")}
	}
	answer := sessionAnswer{ID: id.String()}
	failed := false
	for _, s := range stores {
		until := time.Now().Add(s.revokeLifetime())
		res := storeResult{Store: s.key}
		// Through the shared store: every cache on it hears of it at once.
		if err := s.Revoke(r.Context(), id, until); err != nil {
			res.Error, failed = err.Error(), true
		} else {
			res.Revoked, res.RevokedUntil = true, &until
		}
		answer.Stores = append(answer.Stores, res)
	}
	result := "ok"
	if failed {
		result = "store_error"
	}
	logoutsTotal.WithLabelValues("admin", result).Inc()
	a.logger.Info("logout", zap.String("flow", "admin"), zap.String("result", result),
		zap.String("session", id.Short()), zap.String("remote_addr", r.RemoteAddr))
	status := http.StatusOK
	if failed {
		status = http.StatusServiceUnavailable
	}
	return writeAdminJSON(w, status, answer)
}

// lookup says whether a session is revoked, store by store.
func (a *adminAPI) lookup(w http.ResponseWriter, r *http.Request) error {
	id, owner, err := readRef(r, http.MethodPost)
	if err != nil {
		return err
	}
	if owner != nil {
		return a.lookupOwner(w, r, *owner)
	}
	answer := sessionAnswer{ID: id.String(), Stores: []storeResult{}}
	for _, s := range activeStores() {
		res := storeResult{Store: s.key}
		// The store itself, not a cache: an incident asks for the truth.
		until, err := s.RevokedUntil(r.Context(), id)
		switch {
		case err != nil:
			res.Error = err.Error()
		case !until.IsZero():
			res.Revoked, res.RevokedUntil = true, &until
		}
		answer.Stores = append(answer.Stores, res)
	}
	return writeAdminJSON(w, http.StatusOK, answer)
}

// storeStatus describes one store and its cache.
type storeStatus struct {
	Store        string `json:"store"`
	CacheHits    uint64 `json:"cache_hits"`
	CacheMisses  uint64 `json:"cache_misses"`
	CacheEntries int64  `json:"cache_entries"`
	Records      *int   `json:"records,omitempty"`
	JournalDepth *int   `json:"journal_depth,omitempty"`
	Degraded     *bool  `json:"degraded,omitempty"`
	// View is the store's in-memory view of the revocations (bolt, redis).
	View *session.ViewStatus `json:"view,omitempty"`
}

// recordCounter is implemented by stores that can count their records.
type recordCounter interface{ Len() (int, error) }

func (a *adminAPI) status(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed; use GET", r.Method)}
	}
	out := []storeStatus{}
	for _, st := range activeStores() {
		counts, entries := st.cacheTotals()
		s := storeStatus{Store: st.key, CacheHits: counts.Hits, CacheMisses: counts.Misses, CacheEntries: entries}
		if rc, ok := session.As[recordCounter](st); ok {
			if n, err := rc.Len(); err == nil {
				s.Records = &n
			}
		}
		if h, ok := session.As[StoreHealth](st); ok {
			depth, degraded := h.JournalDepth(), h.Degraded()
			s.JournalDepth, s.Degraded = &depth, &degraded
		}
		if v, ok := session.As[session.ViewReporter](st); ok {
			vs := v.ViewStatus()
			s.View = &vs
		}
		out = append(out, s)
	}
	return writeAdminJSON(w, http.StatusOK, map[string]any{"stores": out})
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// Interface guards
var (
	_ caddy.AdminRouter = (*adminAPI)(nil)
	_ caddy.Provisioner = (*adminAPI)(nil)
)
