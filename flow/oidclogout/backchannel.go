package oidclogout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session/once"
)

// MaxBodySize bounds a back-channel logout request: a form with one logout
// token, a few KiB at most.
const MaxBodySize = 64 << 10

// replayTimeout bounds the shared replay check: the provider waits only a
// few seconds for the answer.
const replayTimeout = 2 * time.Second

// ServeBackChannel answers a Back-Channel Logout 1.0 request (2.5, 2.8):
// a POSTed form with logout_token. A valid token revokes every session
// recorded for it and gets 200, also when none was; anything else gets 400
// with a JSON error (405 for another method). Both carry Cache-Control:
// no-store. No input yields a 5xx.
func (rcv *Receiver) ServeBackChannel(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	claims, refusal := rcv.backChannel(w, r)
	if refusal != nil {
		rcv.cfg.Observer.BackChannel(false, refusal.Reason, 0)
		if ce := rcv.refusedAudit.Check(zap.InfoLevel, "logout token refused"); ce != nil {
			ce.Write(zap.String("issuer", rcv.cfg.Issuer), zap.String("reason", string(refusal.Reason)),
				zap.String("description", refusal.Description), zap.String("remote_addr", r.RemoteAddr))
		}
		status := http.StatusBadRequest
		if refusal.Reason == ReasonMethod {
			w.Header().Set("Allow", http.MethodPost)
			status = http.StatusMethodNotAllowed
		}
		writeOAuthError(w, status, refusal)
		return
	}
	revoked, err := rcv.revoke(r.Context(), claims)
	if err != nil {
		// The token was good but the logout did not happen: let the
		// provider retry it (2.8: 400 when the logout failed).
		rcv.releaseReplay(claims)
		refusal = refuse(ReasonStore, "the sessions could not be revoked; try again")
		rcv.cfg.Observer.BackChannel(false, refusal.Reason, 0)
		rcv.cfg.Logger.Warn("back-channel logout: revoking the sessions failed", zap.String("issuer", claims.Issuer),
			zap.String("sid", claims.SessionID), zap.String("sub", claims.Subject), zap.Error(err))
		writeOAuthError(w, http.StatusBadRequest, refusal)
		return
	}
	rcv.cfg.Observer.BackChannel(true, "", revoked)
	rcv.audit.Info("logout token accepted", zap.String("issuer", claims.Issuer), zap.String("sid", claims.SessionID),
		zap.String("sub", claims.Subject), zap.String("jti", claims.ID), zap.Int("sessions_revoked", revoked),
		zap.String("remote_addr", r.RemoteAddr))
	w.WriteHeader(http.StatusOK)
}

// backChannel reads and validates the request, and claims the token's jti.
func (rcv *Receiver) backChannel(w http.ResponseWriter, r *http.Request) (Claims, *Refusal) {
	if r.Method != http.MethodPost {
		return Claims{}, refuse(ReasonMethod, "back-channel logout takes a POST")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return Claims{}, refuse(ReasonRequest, "the request must be a form (application/x-www-form-urlencoded) with logout_token")
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodySize)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return Claims{}, refuse(ReasonTooLarge, "the request body is larger than %d bytes", MaxBodySize)
		}
		return Claims{}, refuse(ReasonRequest, "the form could not be parsed")
	}
	tokens := r.PostForm["logout_token"]
	switch {
	case len(tokens) == 0 || tokens[0] == "":
		return Claims{}, refuse(ReasonRequest, "logout_token is missing")
	case len(tokens) > 1:
		return Claims{}, refuse(ReasonRequest, "logout_token must be given once")
	}
	claims, refusal := rcv.validator.validate(r.Context(), tokens[0])
	if refusal != nil {
		return Claims{}, refusal
	}
	if !rcv.claimReplay(r.Context(), claims) {
		return Claims{}, refuse(ReasonReplayed, "this logout token (jti) was received before")
	}
	return claims, nil
}

// revoke ends the sessions the token names: with sid, the provider
// session's; without, every session of the subject (2.4).
func (rcv *Receiver) revoke(ctx context.Context, c Claims) (int, error) {
	if rcv.cfg.Sessions == nil {
		return 0, errors.New("no sessions to revoke: this client has no session records")
	}
	if c.SessionID != "" {
		return rcv.cfg.Sessions.RevokeIssuerSession(ctx, c.Issuer, c.SessionID)
	}
	return rcv.cfg.Sessions.RevokeIssuerSubject(ctx, c.Issuer, c.Subject)
}

// replayKey names a token in the replay set: its issuer and jti, hashed
// to a fixed length.
func replayKey(c Claims) string {
	sum := sha256.Sum256([]byte(c.Issuer + "\x00" + c.ID))
	return "oidc-jti:" + hex.EncodeToString(sum[:])
}

// replayUntil is how long a jti must be remembered: until the token would
// be refused for its age or expiry anyway.
func (rcv *Receiver) replayUntil(c Claims) time.Time {
	until := c.IssuedAt.Add(rcv.cfg.MaxTokenAge)
	if c.Expiry.After(until) {
		until = c.Expiry
	}
	return until.Add(2 * ClockSkew)
}

// claimReplay reports whether the token is new. When the shared set cannot
// answer, this node's own set decides (see Receiver.local).
func (rcv *Receiver) claimReplay(ctx context.Context, c Claims) bool {
	key, until := replayKey(c), rcv.replayUntil(c)
	if rcv.cfg.Replays != once.Set(rcv.local) {
		ctx, cancel := context.WithTimeout(ctx, replayTimeout)
		first, err := rcv.cfg.Replays.Claim(ctx, key, until)
		cancel()
		if err == nil {
			if first {
				_, _ = rcv.local.Claim(ctx, key, until)
			}
			return first
		}
		rcv.cfg.Logger.Warn("back-channel logout: the shared replay check failed; this node's own decides",
			zap.String("issuer", c.Issuer), zap.Error(err))
	}
	first, _ := rcv.local.Claim(ctx, key, until)
	return first
}

func (rcv *Receiver) releaseReplay(c Claims) {
	ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
	defer cancel()
	key := replayKey(c)
	_ = rcv.local.Release(ctx, key)
	if rcv.cfg.Replays != once.Set(rcv.local) {
		if err := rcv.cfg.Replays.Release(ctx, key); err != nil {
			rcv.cfg.Logger.Warn("back-channel logout: could not release the replay claim", zap.Error(err))
		}
	}
}

// writeOAuthError writes {"error", "error_description"} (2.8).
func writeOAuthError(w http.ResponseWriter, status int, r *Refusal) {
	code := "invalid_request"
	if r.Reason == ReasonStore || r.Reason == ReasonKeys {
		code = "temporarily_unavailable"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, r.Description})
}
