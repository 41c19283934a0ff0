package flow

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeSessionToken: the API logout body decoder never panics and
// every body ends as a token or as a 400/403 *Error with a reason. The
// outcome is re-derived from a plain json.Unmarshal into `any`: a token
// only for a JSON object whose "session_token" is a non-empty string of
// at most MaxCredentialLength bytes with no control character, and then
// exactly that string. A body built as {"session_token": s} for a short
// printable s yields s. Through readSessionToken (Content-Type, body
// cap), the answer is the same, or a 400 for a body over MaxAPIBody.
func FuzzDecodeSessionToken(f *testing.F) {
	for _, b := range []string{
		``, ` `, `{}`, `[]`, `null`, `""`, `"tok"`, `1`, `{"session_token":"tok-1"}`,
		`{"session_token":""}`, `{"session_token":null}`, `{"session_token":1}`, `{"session_token":["a"]}`,
		`{"session_token":{"a":1}}`, `{"session_token":"a\u0000b"}`, `{"session_token":"a\nb"}`,
		`{"session_token":"\u007f"}`, `{"session_token":"x","session_token":"y"}`, `{"Session_Token":"x"}`,
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
		err := json.Unmarshal(body, &v)
		obj, isObj := v.(map[string]any)
		field, has := obj["session_token"]
		str, isStr := field.(string)
		switch {
		case err != nil || !isObj:
			wantError(t, body, e, http.StatusBadRequest)
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
		if len(body) > MaxAPIBody {
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
		if (e.Code != http.StatusBadRequest && e.Code != http.StatusForbidden) || e.ID == "" || e.Reason == "" ||
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

func wantError(t *testing.T, body []byte, e *Error, code int) {
	t.Helper()
	if e == nil || e.Code != code {
		t.Fatalf("%q: got %+v, want a %d", body, e, code)
	}
}
