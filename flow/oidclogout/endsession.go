package oidclogout

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// endSessionTimeout bounds the wait for discovery when a browser logout
// needs the end_session_endpoint: the user is waiting for the redirect.
const endSessionTimeout = 3 * time.Second

// EndsSession reports whether logouts go on to the provider.
func (rcv *Receiver) EndsSession() bool { return rcv.cfg.EndSession }

// EndSessionURL is where a browser goes after the gateway logged it out
// (RP-Initiated Logout 1.0, 2): the provider's end_session_endpoint with
// client_id, post_logout_redirect_uri (returnTo, which the caller has
// validated: the provider sends the browser there afterwards, and must
// have it registered) and id_token_hint when idToken is one of this
// client's ID tokens. It reports false when end_session is off or the
// endpoint is not known (discovery failed): the caller then redirects to
// returnTo itself.
func (rcv *Receiver) EndSessionURL(ctx context.Context, returnTo, idToken string) (string, bool) {
	if !rcv.cfg.EndSession {
		return "", false
	}
	endpoint := rcv.cfg.EndSessionURL
	if endpoint == "" {
		ctx, cancel := context.WithTimeout(ctx, endSessionTimeout)
		defer cancel()
		doc, err := rcv.discovery.get(ctx)
		if err != nil || doc.EndSessionEndpoint == "" {
			rcv.cfg.Logger.Warn("end_session: the provider's end_session_endpoint is not known; the logout ends at the gateway only",
				zap.String("issuer", rcv.cfg.Issuer), zap.Error(err))
			return "", false
		}
		endpoint = doc.EndSessionEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false
	}
	q := u.Query()
	q.Set("client_id", rcv.cfg.ClientID)
	if returnTo != "" {
		q.Set("post_logout_redirect_uri", returnTo)
	}
	if hint := idTokenOf(idToken); hint != "" && rcv.isOwnIDToken(hint) {
		q.Set("id_token_hint", hint)
	}
	u.RawQuery = q.Encode()
	return u.String(), true
}

// idTokenOf takes the token out of an Authorization header value
// ("Bearer <token>"), or the value itself.
func idTokenOf(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		v = strings.TrimSpace(v[7:])
	}
	return v
}

// hintAlgorithms are those an ID token may come with: also HMAC, which
// some providers sign ID tokens with (the client secret), since the hint
// is only passed on, never trusted.
var hintAlgorithms = append([]jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512}, signatureAlgorithms...)

// IssuerOf is the iss of an ID token (an Authorization header value
// allowed), unverified; "" when it is none.
func IssuerOf(idToken string) string {
	iss, _ := unverifiedClaims(idTokenOf(idToken))
	return iss
}

// unverifiedClaims reads iss and aud from a JWT without verifying it.
func unverifiedClaims(token string) (iss string, aud json.RawMessage) {
	if token == "" || len(token) > 16<<10 {
		return "", nil
	}
	jws, err := jose.ParseSignedCompact(token, hintAlgorithms)
	if err != nil {
		return "", nil
	}
	var c struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c) != nil {
		return "", nil
	}
	return c.Iss, c.Aud
}

// isOwnIDToken reports whether token looks like an ID token of this
// provider for this client (iss and aud, unverified: it is a hint, which
// the provider verifies). Another provider's token would only make the
// provider refuse the logout.
func (rcv *Receiver) isOwnIDToken(token string) bool {
	iss, aud := unverifiedClaims(token)
	return iss == rcv.cfg.Issuer && (&validator{clientID: rcv.cfg.ClientID}).checkAudience(aud) == nil
}
