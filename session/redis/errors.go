package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-logout/caddy-logout/session"
)

// fail maps an error from a command: the caller's own cancellation stays
// as it is, a closed client is session.ErrClosed, the rest names Redis.
func (s *Store) fail(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return ctx.Err()
	case s.closed.Load() || errors.Is(err, goredis.ErrClosed):
		return session.ErrClosed
	}
	return s.describe(err)
}

// describe names the server and, for authentication failures, says so in
// words an operator searches for.
func (s *Store) describe(err error) error {
	if IsAuthError(err) {
		return &Error{Addrs: s.addrs, Err: err, auth: true}
	}
	return &Error{Addrs: s.addrs, Err: err}
}

// Error is a failure talking to Redis.
type Error struct {
	Addrs    string // the configured addresses
	Err      error
	auth     bool
	answered bool // Redis answered; the error is about what it answered
}

func (e *Error) Error() string {
	if e.auth {
		return fmt.Sprintf("redis store: %s: authentication failed (check username and password): %v", e.Addrs, e.Err)
	}
	if IsTLSError(e.Err) {
		return fmt.Sprintf("redis store: %s: TLS handshake failed (check tls and the server's certificate): %v", e.Addrs, e.Err)
	}
	if IsUnreachable(e.Err) {
		return fmt.Sprintf("redis store: cannot reach %s: %v", e.Addrs, e.Err)
	}
	return fmt.Sprintf("redis store: %s: %v", e.Addrs, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// IsAuthError reports whether err is Redis refusing the credentials: a
// wrong password or user, or none sent to a server that requires one.
func IsAuthError(err error) bool {
	var e *Error
	if errors.As(err, &e) && e.auth {
		return true
	}
	if goredis.IsAuthError(err) {
		return true
	}
	// Servers without ACLs (Redis before 6) say it their own way, which
	// go-redis does not recognise.
	var re goredis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "ERR invalid password")
}

// IsTLSError reports whether err is a TLS handshake that failed because
// the server's certificate does not verify (unknown CA, another name,
// expired): that does not go away by itself. It still counts as
// unreachable for a running node (no usable connection), but at start it
// is configuration.
func IsTLSError(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &hostname) ||
		errors.As(err, &invalid)
}

// Unreachable reports whether err, from one of this Store's calls, means
// Redis could not be reached (IsUnreachable) rather than that it answered
// with an error. The outage journal (session/journal) asks it: only an
// unreachable Redis makes it stop asking Redis for lookups, while one that
// refuses writes (out of memory under noeviction, a read-only replica)
// still answers reads, so other nodes' revocations are still seen.
func (s *Store) Unreachable(err error) bool { return IsUnreachable(err) }

// IsUnreachable reports whether err is a failure to talk to Redis at all
// (refused, timed out, dropped), as opposed to Redis answering with an
// error (bad credentials, a database that does not exist, out of memory).
func IsUnreachable(err error) bool {
	if err == nil || errors.Is(err, session.ErrClosed) {
		return false
	}
	if e := (*Error)(nil); errors.As(err, &e) && e.answered {
		return false
	}
	// Replies that mean "no usable connection": a server still loading its
	// data, a replica without its master, a cluster without quorum or
	// mid-resharding, every client slot taken.
	if goredis.IsLoadingError(err) || goredis.IsMasterDownError(err) || goredis.IsClusterDownError(err) ||
		goredis.IsTryAgainError(err) || goredis.IsMaxClientsError(err) {
		return true
	}
	var re goredis.Error
	return !errors.As(err, &re) // any other reply is an answer; the rest is the network
}
