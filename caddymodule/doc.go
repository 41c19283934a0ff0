// Package caddymodule is caddy-logout's Caddy glue: the http.handlers.logout
// module and its Caddyfile directive, the logout.stores.* store modules,
// state shared across config reloads, metrics and the admin API. The
// behaviour itself lives in package flow; what sessions are, in session.
//
// What a handler's flows talk to, from the request inward:
//
//	session.Cache   one per store and cache options, in cachePool
//	sharedStore     one per StoreKey, in storePool: opens the backend (later,
//	                if its file is locked), fans revocations out to every
//	                cache on it, times backend calls, and after a reload that
//	                replaced it sends in-flight calls to its replacement
//	backend         what the StoreModule opened (bolt, memory, the redis
//	                journal over Redis, a third party's)
//
// Each wrapper has Unwrap() session.Store; the admin API and the metrics
// reach a backend's optional capabilities (a record count, an outage
// journal's health, ...) with session.As, never by naming the layers.
package caddymodule
