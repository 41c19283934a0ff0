// Package journal makes a remote session.Store outage-proof: it wraps the
// backend (Redis) with a local bbolt file so that a logout this node
// acknowledged is never lost, whatever happens to the backend.
//
// # Write path
//
// Revoke asks the backend first. When the backend takes the record, the
// journal keeps a copy (history) and Revoke returns. When it cannot (down,
// timed out, refusing writes), the record is written to the journal as
// pending, fsynced, and Revoke returns nil: the flow answers as usual and
// clears the browser's cookies. Journal writes share transactions (group
// commit), as the bolt store's do.
//
// # Unreachable or refusing
//
// Only a backend that cannot be reached (refused, timed out, dropped)
// makes the store degraded: then Revokes go straight to the journal and
// lookups answer from the journal alone, instead of waiting for a backend
// that is known to be away. A backend that answers with an error (Redis
// out of memory under noeviction, a read-only replica) is not away: it
// still answers reads, which is how this node sees other nodes'
// revocations, so lookups keep asking it. The logouts it refuses are
// journaled as pending all the same, and the replayer keeps retrying them.
// A backend tells the two apart by implementing
//
//	Unreachable(err error) bool
//
// (the Redis store does); for any other backend every error is an outage.
//
// # Read path
//
// RevokedUntil asks the backend; when the backend says "not revoked" or
// fails, the journal answers from its own records, so this node enforces
// every revocation it accepted, during an outage and after a backend that
// lost data. When neither knows, a backend error is returned and the
// handler's on_store_error policy decides.
//
// # Replay and loss detection
//
// A replayer probes the backend while degraded, pushes pending records
// into it when it answers (deleting them from the pending set once taken),
// and then clears the degraded flag; records the backend refuses stay
// pending and are pushed again every RetryInterval, without holding back
// the records after them. It also checks that
// the backend still holds this node's most recent records: at start,
// whenever the backend reports a reconnect (a Broadcaster all=true), after
// an outage and every VerifyInterval. If some are missing, the backend
// lost data (Redis restarted without persistence, a failover lost writes,
// FLUSHALL), and every live record in the history is pushed again. Records
// are pushed with their own expiry, and pushing one twice is harmless (the
// later until wins), so the journal never needs to know exactly what was
// lost.
//
// History is kept until each record expires (a sweeper deletes expired
// records), so the file holds at most this node's revocations of the last
// session lifetime: the bolt store's footprint.
//
// The journal is safe to Close while requests are in flight: they finish
// or get session.ErrClosed, never a panic.
package journal
