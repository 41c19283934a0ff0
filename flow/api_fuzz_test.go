package flow

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeSessionToken: the API logout body decoder never panics and
// every body ends as a token or as a 400/403 *Error with a reason and no
// id (Kratos gives these errors none). The outcome is re-derived another
// way: the first JSON value decoded into `any`, its top-level keys walked
// with the tokenizer. A value that is not JSON, or neither an object nor
// null, is a 400; then, when "session_token" is the only key that Go's
// case-insensitive matching could take and it appears once, a token only
// for a non-empty string of at most MaxCredentialLength bytes with no
// control character, and then exactly that string; a missing or null one
// is a 403. A body built as {"session_token": s} for a short printable s
// yields s. Through readSessionToken (Content-Type, body cap), the answer
// is the same, or a 400 for a body over MaxAPIBody or an empty one.
func FuzzDecodeSessionToken(f *testing.F) {
	for _, b := range []string{
		``, ` `, `{}`, `[]`, `null`, `""`, `"tok"`, `1`, `{"session_token":"tok-1"}`,
		`{"session_token":""}`, `{"session_token":null}`, `{"session_token":1}`, `{"session_token":["a"]}`,
		`{"session_token":{"a":1}}`, `{"session_token":"a\u0000b"}`, `{"session_token":"a\nb"}`,
		`{"session_token":"\u007f"}`, `{"session_token":"x","session_token":"y"}`, `{"Session_Token":"x"}`,
		`{"session_token":"x","session_token":null}`,
		`{"session_token":"\ud800"}`, "{\"session_token\":\"\xff\xfe\"}", `{"session_token":"tok"} trailing`,
		`{"session_token":"tok"`,
		"\ufeff{\"session_token\":\"bom\"}", `{"session_token":"caf\u00e9"}`, ` {"a":[1,{"b":null}],"session_token":"t"} `,
	} {
		f.Add([]byte(b), "tok-"+b)
	}
	f.Fuzz(func(t *testing.T, body []byte, s string) {
		token, e := decodeSessionToken(body)
		checkDecoded(t, body, token, e)

		// The oracle: what the body says, read another way.
		var v any
		err := json.NewDecoder(bytes.NewReader(body)).Decode(&v)
		obj, isObj := v.(map[string]any)
		field, has := obj["session_token"]
		str, isStr := field.(string)
		switch {
		case err != nil || !isObj && v != nil:
			wantError(t, body, e, http.StatusBadRequest)
		case !unambiguousToken(body):
			// Several keys Go's decoder could take: its order decides.
		case !has || field == nil:
			wantError(t, body, e, http.StatusForbidden)
		case !isStr:
			wantError(t, body, e, http.StatusBadRequest)
		case str == "" || len(str) > MaxCredentialLength || !printable(str):
			wantError(t, body, e, http.StatusForbidden)
		case e != nil || token != str:
			t.Fatalf("%q: got %q, %+v; want the token %q", body, token, e, str)
		}

		// Through the HTTP reader: same answer, or too large.
		r := httptest.NewRequest(http.MethodDelete, "/self-service/logout/api", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json; charset=utf-8")
		viaHTTP, he := readSessionToken(httptest.NewRecorder(), r)
		if len(body) > MaxAPIBody || len(body) == 0 { // too large; Content-Length zero
			wantError(t, body, he, http.StatusBadRequest)
		} else if viaHTTP != token || (he == nil) != (e == nil) || he != nil && *he != *e {
			t.Fatalf("%q: readSessionToken = %q, %+v; decodeSessionToken = %q, %+v", body, viaHTTP, he, token, e)
		}

		// A well-formed body around s.
		quoted, _ := json.Marshal(s)
		built := []byte(`{"session_token": ` + string(quoted) + `}`)
		token, e = decodeSessionToken(built)
		checkDecoded(t, built, token, e)
		switch {
		case s == "" || len(s) > MaxCredentialLength || !printable(s):
			wantError(t, built, e, http.StatusForbidden)
		case utf8.ValidString(s) && (e != nil || token != s):
			t.Fatalf("%q: got %q, %+v; want %q", built, token, e, s)
		}
	})
}

// checkDecoded: exactly one of a token and an error, and each well formed.
func checkDecoded(t *testing.T, body []byte, token string, e *Error) {
	t.Helper()
	if e != nil {
		if token != "" {
			t.Fatalf("%q: both a token %q and an error %+v", body, token, e)
		}
		if (e.Code != http.StatusBadRequest && e.Code != http.StatusForbidden) || e.ID != "" || e.Reason == "" ||
			e.Message == "" || e.Status != http.StatusText(e.Code) {
			t.Fatalf("%q: malformed error %+v", body, e)
		}
		return
	}
	if token == "" || len(token) > MaxCredentialLength {
		t.Fatalf("%q: token of %d bytes", body, len(token))
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < ' ' || c == 0x7f {
			t.Fatalf("%q: token %q has control byte %#x", body, token, c)
		}
	}
}

// unambiguousToken reports whether the first JSON value of body is an
// object in which at most one top-level key could be taken for
// session_token (Go matches keys case-insensitively), and it exactly so.
func unambiguousToken(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return true // not an object: nothing to be ambiguous about
	}
	seen := 0
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return false
		}
		key, _ := k.(string)
		if strings.EqualFold(key, "session_token") { // Unicode simple folding, as Go's decoder
			if key != "session_token" {
				return false
			}
			seen++
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return seen <= 1
}

func wantError(t *testing.T, body []byte, e *Error, code int) {
	t.Helper()
	if e == nil || e.Code != code {
		t.Fatalf("%q: got %+v, want a %d", body, e, code)
	}
}
