// Package jwttest signs JWTs for the OpenID Connect tests of both modules:
// the logout tokens a provider would send, and the ones it never would.
package jwttest

import (
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// Sign signs claims (any JSON value) as a compact JWS with key, naming kid
// (none when "") and adding headers.
func Sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, headers map[jose.HeaderKey]any, claims any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	for k, v := range headers {
		opts = opts.WithHeader(k, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
