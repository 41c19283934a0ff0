package flow

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// A session of a legacy app is often several cookies, and a logout request
// need not carry them all: WordPress's auth cookie lives at /wp-admin, so
// the browser never sends it to /wp-login.php. The gateway sees the app set
// its session cookies (a login answer sets them together), records them as
// one group in the store, on every node, and a logout revokes the group:
// a copy of any one of them is refused afterwards.

// Groups is what the flows need to keep groups; a *session.Cache provides
// it (passing through to the store).
type Groups interface {
	JoinGroup(ctx context.Context, members []session.GroupMember, until time.Time) error
	Group(ctx context.Context, id session.ID) ([]session.GroupMember, error)
}

// groupLearning is the Gateway's part for groups.
type groupLearning struct {
	groups  Groups // nil: no groups are learned
	learn   bool   // learnsGroups, decided once
	recent  recentGroups
	noStore sync.Once // warned that the store keeps no groups
}

// learnsGroups reports whether answers are watched for session cookies: a
// store that keeps groups, and session cookies that can come in more than
// one name.
func (g *Gateway) learnsGroups() bool {
	return g.grp.groups != nil && (len(g.cfg.Cookies) > 1 || len(g.cookieGlobs) > 0)
}

// learnGroup records the session cookies an answer sets to fresh values,
// with the ones the request carried (sent: its Cookie header as the
// browser sent it), as one group, before the answer goes out: a logout
// right after finds it.
func (g *Gateway) learnGroup(r *http.Request, sent []string, h http.Header) {
	lines := h["Set-Cookie"]
	if len(lines) == 0 {
		return
	}
	var members []session.GroupMember
	now := g.now()
	for _, line := range lines {
		name, _, _ := strings.Cut(line, "=")
		if !g.isSessionCookie(strings.TrimSpace(name)) {
			continue
		}
		sc, ok := parseSetCookie(line, r.URL.Path, now)
		if !ok || sc.expires || !g.sessionValue(sc.name, sc.value) {
			continue
		}
		members = addMember(members, session.CookieID(sc.value), sc.name)
	}
	if len(members) == 0 {
		return
	}
	g.eachCookieCredential(sent, func(c credential) bool {
		if len(c.value) <= MaxCredentialLength {
			members = addMember(members, c.id(), c.name)
		}
		return true
	})
	if len(members) < 2 || g.grp.recent.seen(members, now) {
		return
	}
	err := g.grp.groups.JoinGroup(r.Context(), members, now.Add(g.cfg.SessionLifetime))
	switch {
	case errors.Is(err, session.ErrNoGroups):
		g.grp.noStore.Do(func() {
			g.cfg.Logger.Warn("the session store keeps no groups of cookies, so a logout revokes only the cookies it carries; use the bolt, memory or redis store")
		})
	case err != nil:
		g.grp.recent.forget(members)
		g.cfg.Logger.Warn("could not record which session cookies belong together", zap.Error(err))
	}
}

// sessionValue reports whether a cookie's value counts as a session
// credential: any value under an exact name, one long enough under a glob.
func (g *Gateway) sessionValue(name, value string) bool {
	if value == "" {
		return false
	}
	for _, n := range g.cfg.Cookies {
		if sameCookieName(name, n) {
			return true
		}
	}
	return longEnough(value) && g.globMatch(name)
}

func addMember(ms []session.GroupMember, id session.ID, name string) []session.GroupMember {
	for _, m := range ms {
		if m.ID == id {
			return ms
		}
	}
	return append(ms, session.GroupMember{ID: id, Name: name})
}

// revokeGroups revokes every member of the groups of ids (ids themselves
// are revoked by the caller) and returns the members' names, so that
// cookies the request did not carry are deleted too. A group the store
// cannot be asked about (Redis down: the journal takes revocations, not
// lookups) is warned about, not an error: the logout of what the request
// carries stands. A failed revocation is an error.
func (g *Gateway) revokeGroups(ctx context.Context, ids []session.ID, until time.Time, done map[session.ID]bool) (names []string, err error) {
	if g.grp.groups == nil {
		return nil, nil
	}
	for _, id := range ids {
		ms, gerr := g.grp.groups.Group(ctx, id)
		if errors.Is(gerr, session.ErrNoGroups) {
			return names, nil
		}
		if gerr != nil {
			g.cfg.Logger.Warn("could not read which cookies belong with a revoked session; only the ones the request carries are revoked",
				zap.String("session", id.Short()), zap.Error(gerr))
			continue
		}
		for _, m := range ms {
			if !slices.Contains(names, m.Name) {
				names = append(names, m.Name)
			}
			if done[m.ID] {
				continue
			}
			done[m.ID] = true
			if rerr := g.cfg.Store.Revoke(ctx, m.ID, until); rerr != nil {
				err = rerr
			}
		}
	}
	return names, err
}

// recentGroups remembers the groups joined lately, so that an app that
// sends its cookies again on every answer costs one store write per
// recentFor, not one per request.
type recentGroups struct {
	mu   sync.Mutex
	keys map[[16]byte]int64 // group key -> until (unix nanoseconds)
}

const (
	recentFor = 10 * time.Minute
	recentMax = 16 << 10
)

// groupKey is order-free: the XOR of the members' IDs.
func groupKey(ms []session.GroupMember) [16]byte {
	var k [16]byte
	for _, m := range ms {
		for i := range k {
			k[i] ^= m.ID[i]
		}
	}
	return k
}

// seen reports whether this group was joined within recentFor, and
// remembers it as joined now.
func (rg *recentGroups) seen(ms []session.GroupMember, now time.Time) bool {
	k := groupKey(ms)
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if until, ok := rg.keys[k]; ok && until > now.UnixNano() {
		return true
	}
	if rg.keys == nil || len(rg.keys) >= recentMax {
		rg.keys = map[[16]byte]int64{}
	}
	rg.keys[k] = now.Add(recentFor).UnixNano()
	return false
}

func (rg *recentGroups) forget(ms []session.GroupMember) {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	delete(rg.keys, groupKey(ms))
}
