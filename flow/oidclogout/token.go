package oidclogout

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// BackChannelEvent is the member of a logout token's events claim that
// makes it one (Back-Channel Logout 1.0, 2.4).
const BackChannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// Limits and tolerances of logout token validation.
const (
	// DefaultMaxTokenAge is how old (by iat) a logout token may be. Logout
	// tokens are sent the moment the IdP session ends; oidc-provider and
	// Keycloak give theirs two minutes (exp), Ory Hydra none at all, so iat
	// is what bounds a replay.
	DefaultMaxTokenAge = 5 * time.Minute
	// ClockSkew is the leeway for iat in the future and exp in the past.
	ClockSkew = time.Minute
	// maxClaimLength bounds jti, sid and sub: identifiers, not documents.
	maxClaimLength = 1024
)

// signatureAlgorithms are the algorithms a logout token may be signed
// with: asymmetric ones only. none is never one (2.6 step 3), and HMAC is
// refused outright, so a token "signed" with the issuer's public key as an
// HMAC secret cannot pass.
var signatureAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// Reason says why a logout token was refused: the metric label and the
// audit log field. The token itself is never logged.
type Reason string

// The reasons a back-channel logout is refused.
const (
	ReasonMethod    Reason = "method"           // not a POST
	ReasonRequest   Reason = "bad_request"      // not a form with one logout_token
	ReasonTooLarge  Reason = "too_large"        // body over MaxBodySize
	ReasonMalformed Reason = "malformed"        // not a signed JWT with a JSON object of claims of the right types
	ReasonAlg       Reason = "alg"              // none, HMAC or another algorithm not allowed
	ReasonTyp       Reason = "typ"              // explicitly typed as another kind of JWT
	ReasonKey       Reason = "unknown_key"      // no key of the issuer fits its kid and alg
	ReasonSignature Reason = "signature"        // the signature does not verify
	ReasonKeys      Reason = "keys_unavailable" // the issuer's JWKS could not be fetched
	ReasonIssuer    Reason = "iss"
	ReasonAudience  Reason = "aud"
	ReasonIssuedAt  Reason = "iat"
	ReasonExpired   Reason = "exp"
	ReasonSubject   Reason = "no_sid_or_sub"
	ReasonEvents    Reason = "events"
	ReasonNonce     Reason = "nonce"
	ReasonJTI       Reason = "jti"
	ReasonReplayed  Reason = "replayed"    // its jti was acted on before
	ReasonStore     Reason = "store_error" // valid, but the sessions could not be revoked
)

// Refusal is a logout token refused, with what to tell the IdP.
type Refusal struct {
	Reason      Reason
	Description string
}

func (r *Refusal) Error() string { return string(r.Reason) + ": " + r.Description }

func refuse(reason Reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Description: fmt.Sprintf(format, args...)}
}

// Claims is what a valid logout token says.
type Claims struct {
	Issuer    string
	Subject   string // "" when the token names only a session
	SessionID string // sid; "" when the token names only a subject
	ID        string // jti
	IssuedAt  time.Time
	Expiry    time.Time // zero when the token has no exp (Ory Hydra)
}

// keySource finds the keys that may have signed a token.
type keySource interface {
	candidates(ctx context.Context, kid string, alg jose.SignatureAlgorithm) ([]jose.JSONWebKey, error)
}

// validator checks logout tokens as Back-Channel Logout 1.0, 2.6 says.
type validator struct {
	issuer, clientID string
	keys             keySource
	maxAge           time.Duration
	now              func() time.Time
}

// validate checks a logout token: its form, algorithm, type and signature,
// then its claims. Nothing of an unverified token is trusted: claims are
// read only from the payload the signature covers.
func (v *validator) validate(ctx context.Context, raw string) (Claims, *Refusal) {
	if strings.Count(raw, ".") == 4 {
		return Claims{}, refuse(ReasonMalformed, "encrypted logout tokens are not supported; configure the client for signed ones")
	}
	jws, err := jose.ParseSignedCompact(raw, signatureAlgorithms)
	if err != nil {
		var unexpected *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &unexpected) {
			return Claims{}, refuse(ReasonAlg, "the signature algorithm %q is not allowed", unexpected.Got)
		}
		return Claims{}, refuse(ReasonMalformed, "the logout token is not a signed JWT in compact form")
	}
	if len(jws.Signatures) != 1 {
		return Claims{}, refuse(ReasonMalformed, "the logout token must carry one signature")
	}
	header := jws.Signatures[0].Protected
	if r := checkType(header.ExtraHeaders); r != nil {
		return Claims{}, r
	}
	alg := jose.SignatureAlgorithm(header.Algorithm)
	keys, err := v.keys.candidates(ctx, header.KeyID, alg)
	if err != nil {
		return Claims{}, refuse(ReasonKeys, "%s", errNoKeys)
	}
	if len(keys) == 0 {
		return Claims{}, refuse(ReasonKey, "no signing key of the issuer fits the token's kid and alg")
	}
	var payload []byte
	for i := range keys {
		if payload, err = jws.Verify(&keys[i]); err == nil {
			break
		}
	}
	if err != nil {
		return Claims{}, refuse(ReasonSignature, "the signature does not verify with the issuer's key")
	}
	return v.checkClaims(payload)
}

// checkType accepts no typ, the generic JWT, and logout+jwt (2.4: logout
// tokens should be explicitly typed; Ory Hydra sends none). Any other
// explicit type is another kind of token (cross-JWT confusion, 4.1).
func checkType(extra map[jose.HeaderKey]any) *Refusal {
	t, present := extra[jose.HeaderType]
	if !present {
		return nil
	}
	s, ok := t.(string)
	if !ok {
		return refuse(ReasonMalformed, "the typ header is not a string")
	}
	switch strings.TrimPrefix(strings.ToLower(s), "application/") {
	case "logout+jwt", "jwt":
		return nil
	}
	return refuse(ReasonTyp, "a token of type %q is not a logout token", s)
}

// checkClaims checks the verified payload (2.6 steps 4 to 7; jti for 8).
func (v *validator) checkClaims(payload []byte) (Claims, *Refusal) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil || m == nil {
		return Claims{}, refuse(ReasonMalformed, "the claims are not a JSON object")
	}
	var c Claims
	var ok bool
	if c.Issuer, ok = stringClaim(m, "iss"); !ok || c.Issuer == "" {
		return Claims{}, refuse(ReasonIssuer, "iss is missing or not a string")
	}
	if c.Issuer != v.issuer {
		return Claims{}, refuse(ReasonIssuer, "iss is not the configured issuer")
	}
	if r := v.checkAudience(m["aud"]); r != nil {
		return Claims{}, r
	}
	now := v.now()
	iat, present, ok := timeClaim(m, "iat")
	switch {
	case !present || !ok:
		return Claims{}, refuse(ReasonIssuedAt, "iat is missing or not a number")
	case iat.After(now.Add(ClockSkew)):
		return Claims{}, refuse(ReasonIssuedAt, "iat is in the future")
	case iat.Before(now.Add(-v.maxAge - ClockSkew)):
		return Claims{}, refuse(ReasonIssuedAt, "the token was issued more than %s ago", v.maxAge)
	}
	c.IssuedAt = iat
	exp, present, ok := timeClaim(m, "exp")
	switch {
	case present && !ok:
		return Claims{}, refuse(ReasonExpired, "exp is not a number")
	case present && !now.Before(exp.Add(ClockSkew)):
		return Claims{}, refuse(ReasonExpired, "the token has expired")
	case present:
		c.Expiry = exp
	}
	if c.Subject, ok = stringClaim(m, "sub"); !ok {
		return Claims{}, refuse(ReasonMalformed, "sub is not a string")
	}
	if c.SessionID, ok = stringClaim(m, "sid"); !ok {
		return Claims{}, refuse(ReasonMalformed, "sid is not a string")
	}
	if c.Subject == "" && c.SessionID == "" {
		return Claims{}, refuse(ReasonSubject, "the token names neither a session (sid) nor a subject (sub)")
	}
	if len(c.Subject) > maxClaimLength || len(c.SessionID) > maxClaimLength {
		return Claims{}, refuse(ReasonMalformed, "sub or sid is longer than %d bytes", maxClaimLength)
	}
	if r := checkEvents(m["events"]); r != nil {
		return Claims{}, r
	}
	if _, has := m["nonce"]; has {
		return Claims{}, refuse(ReasonNonce, "a logout token must not contain a nonce")
	}
	if c.ID, ok = stringClaim(m, "jti"); !ok || c.ID == "" || len(c.ID) > maxClaimLength {
		return Claims{}, refuse(ReasonJTI, "jti is missing, not a string or too long")
	}
	return c, nil
}

// checkAudience accepts aud as one string or an array of strings that
// contains the client_id.
func (v *validator) checkAudience(raw json.RawMessage) *Refusal {
	if raw == nil {
		return refuse(ReasonAudience, "aud is missing")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == v.clientID {
			return nil
		}
		return refuse(ReasonAudience, "aud is not the configured client_id")
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return refuse(ReasonAudience, "aud is neither a string nor an array of strings")
	}
	for _, a := range many {
		if a == v.clientID {
			return nil
		}
	}
	return refuse(ReasonAudience, "aud does not contain the configured client_id")
}

// checkEvents requires events to be a JSON object whose back-channel
// logout member is a JSON object too (2.4). Other members are ignored
// (Keycloak may add revoke_offline_access: true).
func checkEvents(raw json.RawMessage) *Refusal {
	if raw == nil {
		return refuse(ReasonEvents, "events is missing")
	}
	var events map[string]json.RawMessage
	if !isObject(raw) || json.Unmarshal(raw, &events) != nil {
		return refuse(ReasonEvents, "events is not a JSON object")
	}
	member, ok := events[BackChannelEvent]
	if !ok {
		return refuse(ReasonEvents, "events has no %s member", BackChannelEvent)
	}
	var obj map[string]json.RawMessage
	if !isObject(member) || json.Unmarshal(member, &obj) != nil {
		return refuse(ReasonEvents, "the %s event is not a JSON object", BackChannelEvent)
	}
	return nil
}

// isObject reports whether raw is a JSON object ({...}, not null).
func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// stringClaim reads an optional string claim: ok is false only when it is
// present with another type (null counts as absent).
func stringClaim(m map[string]json.RawMessage, name string) (string, bool) {
	raw, present := m[name]
	if !present || string(bytes.TrimSpace(raw)) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// timeClaim reads a NumericDate claim (seconds, fractions allowed).
func timeClaim(m map[string]json.RawMessage, name string) (t time.Time, present, ok bool) {
	raw, present := m[name]
	if !present {
		return time.Time{}, false, false
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return time.Time{}, true, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f <= 0 || f > 1<<40 {
		return time.Time{}, true, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, true
}

// keyFits reports whether key can verify a signature of alg: RSA for RS*
// and PS*, the curve that alg names for ES*, Ed25519 for EdDSA. The
// library checks this too; checking first keeps a wrong-typed key from
// counting as a candidate at all.
func keyFits(key jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	switch k := key.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256:
			return k.Curve == elliptic.P256()
		case jose.ES384:
			return k.Curve == elliptic.P384()
		case jose.ES512:
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}
