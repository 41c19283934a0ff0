// Command backend is what bench/run.sh puts behind Caddy: a trivial app
// (the upstream every variant proxies to) and a trivial session service
// (what forward_auth asks in variant d). Both are as fast as a Go HTTP
// server gets, so the benchmark measures Caddy and the guard, not them.
//
//	backend -app 127.0.0.1:9001 -auth 127.0.0.1:9002 -session <cookie value>
//
// GET /_count on the app answers how many requests it has served, so the
// script can tell how far a load generator has got.
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
	"sync/atomic"
)

func main() {
	app := flag.String("app", "127.0.0.1:9001", "address of the app")
	auth := flag.String("auth", "127.0.0.1:9002", "address of the session service")
	cookie := flag.String("cookie", "sid", "session cookie name")
	valid := flag.String("session", "", "the one valid session cookie value")
	flag.Parse()

	body := []byte("hello from the app\n")
	var served atomic.Int64
	go func() {
		log.Fatal(http.ListenAndServe(*app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/_count" {
				_, _ = w.Write(strconv.AppendInt(nil, served.Load(), 10))
				return
			}
			served.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(body)
		})))
	}()

	// A session service as lean as they come: one map lookup, the way a
	// session store with everything in memory answers "who is this?".
	// Real ones (Kratos /sessions/whoami, an app's own /me) do more.
	sessions := map[string]string{*valid: "user-1"}
	log.Fatal(http.ListenAndServe(*auth, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(*cookie); err == nil && c.Value != "" {
			if user, ok := sessions[c.Value]; ok {
				w.Header().Set("X-User", user)
				w.WriteHeader(http.StatusOK)
				return
			}
		}
		w.WriteHeader(http.StatusUnauthorized)
	})))
}
