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

// sessionRef names a session by one of its credentials or by its ID.
type sessionRef struct {
	SessionToken string `json:"session_token,omitempty"`
	Cookie       string `json:"cookie,omitempty"`
	ID           string `json:"id,omitempty"`
}

// maxAdminBody caps admin request bodies like the API flow's.
const maxAdminBody = 32 << 10

func readRef(r *http.Request, method string) (session.ID, error) {
	if r.Method != method {
		return session.ID{}, caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed; use %s", r.Method, method)}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil || len(body) > maxAdminBody {
		return session.ID{}, badRequest(errors.New("body too large or unreadable"))
	}
	var ref sessionRef
	if err := json.Unmarshal(body, &ref); err != nil {
		return session.ID{}, badRequest(errors.New(`body must be JSON: {"session_token": "..."}, {"cookie": "..."} or {"id": "<64 hex digits>"}`))
	}
	given := 0
	for _, v := range []string{ref.SessionToken, ref.Cookie, ref.ID} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return session.ID{}, badRequest(errors.New("name the session by exactly one of session_token, cookie or id"))
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
	id, err := readRef(r, http.MethodPost)
	if err != nil {
		return err
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
	id, err := readRef(r, http.MethodPost)
	if err != nil {
		return err
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
