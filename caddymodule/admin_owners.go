package caddymodule

import (
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// The admin API's revocation and lookup by owner: every store some config
// records owners in (identity) is asked; with redis that is every node's.

// ownerRef is how answers name the owner.
type ownerRef struct {
	Subject   string `json:"subject,omitempty"`
	Issuer    string `json:"iss,omitempty"`
	SessionID string `json:"sid,omitempty"`
}

func refOf(k session.OwnerKey) ownerRef {
	return ownerRef{Subject: k.Subject, Issuer: k.Issuer, SessionID: k.SessionID}
}

// ownerStore is one store's part of an answer.
type ownerStore struct {
	Store string `json:"store"`
	Count *int   `json:"count,omitempty"`
	Error string `json:"error,omitempty"`
}

type revokeOwnerAnswer struct {
	Owner ownerRef `json:"owner"`
	// Count is how many sessions this call revoked, in all stores.
	Count  int          `json:"count"`
	Stores []ownerStore `json:"stores"`
}

// ownerStores lists the stores that record owners, with their Owners.
func ownerStores() []*sharedStore {
	var out []*sharedStore
	for _, s := range activeStores() {
		if _, ok := ownersOf(s.key); ok {
			out = append(out, s)
		}
	}
	return out
}

var errNoIdentity = caddy.APIError{HTTPStatus: http.StatusConflict,
	Err: errors.New("no logout handler records session owners: configure identity")}

func (a *adminAPI) revokeOwner(w http.ResponseWriter, r *http.Request, key session.OwnerKey) error {
	stores := ownerStores()
	if len(stores) == 0 {
		return errNoIdentity
	}
	answer := revokeOwnerAnswer{Owner: refOf(key), Stores: []ownerStore{}}
	failed := false
	for _, s := range stores {
		owners, _ := ownersOf(s.key)
		n, err := owners.RevokeOwner(r.Context(), key, session.RevokeOwnerOptions{Lifetime: s.revokeLifetime()})
		observeOwnerRevoked("admin", n, err)
		res := ownerStore{Store: s.key, Count: &n}
		if err != nil {
			res.Error, failed = err.Error(), true
		}
		answer.Count += n
		answer.Stores = append(answer.Stores, res)
	}
	result := "ok"
	if failed {
		result = "store_error"
	}
	a.logger.Info("owner revoked", append(key.LogFields(), zap.String("via", "admin"), zap.String("result", result),
		zap.Int("sessions", answer.Count), zap.String("remote_addr", r.RemoteAddr))...)
	status := http.StatusOK
	if failed {
		status = http.StatusServiceUnavailable
	}
	return writeAdminJSON(w, status, answer)
}

// ownerSession is one session in a lookup.
type ownerSession struct {
	ID        string    `json:"id"`
	PublicID  string    `json:"public_id"`
	Issuer    string    `json:"iss,omitempty"`
	Subject   string    `json:"sub"`
	SessionID string    `json:"sid,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Until     time.Time `json:"until"`
	Confirmed bool      `json:"confirmed"`
	Revoked   bool      `json:"revoked"`
	Store     string    `json:"store"`
}

type lookupOwnerAnswer struct {
	Owner    ownerRef       `json:"owner"`
	Sessions []ownerSession `json:"sessions"`
	Stores   []ownerStore   `json:"stores"`
}

func (a *adminAPI) lookupOwner(w http.ResponseWriter, r *http.Request, key session.OwnerKey) error {
	stores := ownerStores()
	if len(stores) == 0 {
		return errNoIdentity
	}
	answer := lookupOwnerAnswer{Owner: refOf(key), Sessions: []ownerSession{}, Stores: []ownerStore{}}
	for _, s := range stores {
		owners, _ := ownersOf(s.key)
		list, err := owners.Sessions(r.Context(), key)
		res := ownerStore{Store: s.key}
		if err != nil {
			res.Error = err.Error()
		}
		n := len(list)
		res.Count = &n
		answer.Stores = append(answer.Stores, res)
		for _, x := range list {
			answer.Sessions = append(answer.Sessions, ownerSession{
				ID: x.ID.String(), PublicID: x.ID.PublicID(), Issuer: x.Owner.Issuer, Subject: x.Owner.Subject,
				SessionID: x.Owner.SessionID, FirstSeen: x.FirstSeen.UTC(), LastSeen: x.LastSeen.UTC(), Until: x.Until.UTC(),
				Confirmed: x.Confirmed, Revoked: x.Revoked, Store: s.key,
			})
		}
	}
	return writeAdminJSON(w, http.StatusOK, answer)
}
