package oidclogout

import (
	"context"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// BenchmarkValidate is the cost of one back-channel logout token: parse,
// RS256 verification with a 2048-bit key, claims checks.
func BenchmarkValidate(b *testing.B) {
	v := fuzzValidator(b)
	token := signWith(b, jose.RS256, fuzzKey, "k1", map[jose.HeaderKey]any{jose.HeaderType: "logout+jwt"}, fuzzClaims())
	b.ReportAllocs()
	for b.Loop() {
		if _, r := v.validate(context.Background(), token); r != nil {
			b.Fatal(r)
		}
	}
}
