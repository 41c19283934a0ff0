// Package redis is the session.Store for several Caddy nodes: revocations
// live in Redis (standalone, Sentinel or Cluster, through go-redis's
// UniversalClient), and every node keeps a complete copy of them in
// memory, its view, so that the guard's usual question ("is this session
// revoked?", almost always "no") is answered without a network call.
//
// # Records
//
// A revocation is one string key, <prefix>revoked:<hex ID>, holding the
// time it is revoked until (unix milliseconds), with a Redis expiry at that
// time, so Redis forgets it when the session would have expired anyway.
// Revoking again keeps the later time (a small Lua script compares and
// sets). The records are what a node reads when it loads its view, and
// what it asks when its view cannot answer.
//
// # The revocation log
//
// Each revocation is also appended to a Redis Stream, <prefix>log, as one
// entry: the ID, the until, and the ID of the entry before it (prev). The
// stream is trimmed by age (entries older than LogRetention go, on the
// next append), so it holds only the recent past; it is how nodes hear of
// each other's revocations, not where they are kept.
//
// Every node reads the log on a connection of its own, with a blocking
// XREAD from the last entry it has seen, and adds each entry to its view.
// After a lost connection it reads on from that entry, so it catches up on
// exactly what it missed. The prev chain proves that nothing is missing:
// each entry must name the one the node read before it. A gap means the
// log is not the one the node was reading (Redis restarted without its
// data, a failover lost writes, FLUSHALL) or was trimmed past the node's
// position (it was away longer than LogRetention); then the node reloads
// its view from the records (SCAN), keeping what it already held.
//
// # The view, and when it is current
//
// The view holds every unexpired revocation this node has heard of: those
// in Redis when it loaded, those it read from the log since, its own, and
// those its journal (session/journal) holds. Nothing leaves it before it
// expires: if Redis loses revocations, the view still has them, and the
// journals of the nodes that made them write them back.
//
// The view answers "not revoked" on its own only while it is current:
//   - it has loaded the records since start (or since the last gap), and
//     read the log up to its end since;
//   - the reader has heard from Redis within StaleAfter (an XREAD comes
//     back at least every HealthCheckInterval, with entries or without);
//   - it holds fewer than ViewLimit revocations (the memory cap).
//
// When it is not current, a session the view holds is still refused, and
// one it does not hold is looked up as before the view existed: the
// session.Cache in front asks Redis (GET), caches the answer briefly, and
// drops it when the log announces that session; if Redis cannot answer,
// the journal and on_store_error decide.
//
// # Why a stream, not pub/sub or client-side caching
//
// Pub/sub drops whatever is published while a subscriber reconnects, so
// after every reconnect a node could only distrust everything it had
// cached. Client-side caching (CLIENT TRACKING) has the same blind spot,
// is per connection (every node on every Cluster master), and is missing
// from some managed services. A stream can be read from a position: a
// reconnect costs the entries missed, not the view.
package redis
