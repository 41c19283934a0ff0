// Command backend is what bench/run.sh puts behind Caddy: a trivial app
// (the upstream every variant proxies to) and trivial session services
// (what forward_auth asks in variants d and e). They are as fast as a Go
// HTTP server gets, so the benchmark measures Caddy and the guard, not them.
//
//	backend -app 127.0.0.1:9001 -auth 127.0.0.1:9002 -session <cookie value> \
//	        [-auth-redis 127.0.0.1:9003 -redis 127.0.0.1:6379]
//
// GET /_count on the app answers how many requests it has served, so the
// script can tell how far a load generator has got.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func main() {
	app := flag.String("app", "127.0.0.1:9001", "address of the app")
	auth := flag.String("auth", "127.0.0.1:9002", "address of the in-memory session service")
	authRedis := flag.String("auth-redis", "", "address of the Redis-backed session service (off when empty)")
	redisAddr := flag.String("redis", "", "redis-server the Redis-backed session service reads")
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

	if *authRedis != "" {
		go func() { log.Fatal(http.ListenAndServe(*authRedis, redisSessions(*redisAddr, *cookie, *valid))) }()
	}

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

// redisSessions is the same session service with its sessions in Redis,
// as soon as more than one app instance must share them (express-session
// with connect-redis, Rails' redis-session-store, Authelia's session
// provider): one GET per request.
func redisSessions(addr, cookie, valid string) http.Handler {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: 64})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Set(ctx, "session:"+valid, "user-1", 0).Err(); err != nil {
		log.Fatalf("backend: storing the session in Redis at %s: %v", addr, err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(cookie); err == nil && c.Value != "" {
			user, err := rdb.Get(r.Context(), "session:"+c.Value).Result()
			switch {
			case err == nil:
				w.Header().Set("X-User", user)
				w.WriteHeader(http.StatusOK)
				return
			case err != goredis.Nil:
				http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
}
