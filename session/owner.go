package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Owner is who a session belongs to, as the identity provider names them:
// the issuer, the subject and the provider's session ID (an OpenID Connect
// ID token's iss, sub and sid). Subject is required; Issuer and SessionID
// may be empty (a user name from basic_auth or a header has neither).
//
// Claims are recorded as they were read, unverified: a revocation only
// ever refuses, so a forged owner can at most get the forger's own session
// revoked. Confirmed in OwnerRecord says whether a handler behind the
// gateway vouched for it.
type Owner struct {
	Issuer    string `json:"iss,omitempty"`
	Subject   string `json:"sub"`
	SessionID string `json:"sid,omitempty"`
}

// MaxOwnerField bounds each of an Owner's fields: claims longer than this
// are not identities worth a record, and bounding them bounds every record.
const MaxOwnerField = 1024

// Check reports whether o can be recorded: a subject, and no field longer
// than MaxOwnerField.
func (o Owner) Check() error {
	switch {
	case o.Subject == "":
		return errors.New("an owner needs a subject")
	case len(o.Issuer) > MaxOwnerField || len(o.Subject) > MaxOwnerField || len(o.SessionID) > MaxOwnerField:
		return fmt.Errorf("owner claims longer than %d bytes", MaxOwnerField)
	}
	return nil
}

// OwnerKey names the sessions of one owner, in one of three ways:
//
//   - BySubject: every session of a subject, whatever its issuer (the admin
//     API's {"subject": "alice"});
//   - ByIssuerSubject: a subject of one issuer (an OpenID Connect
//     back-channel logout token without sid);
//   - ByIssuerSession: one identity provider session (iss, sid), which may
//     span several gateway sessions (back-channel logout with sid).
type OwnerKey struct {
	Kind      OwnerKeyKind
	Issuer    string
	Subject   string
	SessionID string
}

// OwnerKeyKind says which fields of an OwnerKey count.
type OwnerKeyKind uint8

const (
	KeySubject OwnerKeyKind = iota + 1
	KeyIssuerSubject
	KeyIssuerSession
)

// BySubject names every session of sub.
func BySubject(sub string) OwnerKey { return OwnerKey{Kind: KeySubject, Subject: sub} }

// ByIssuerSubject names every session of sub at iss.
func ByIssuerSubject(iss, sub string) OwnerKey {
	return OwnerKey{Kind: KeyIssuerSubject, Issuer: iss, Subject: sub}
}

// ByIssuerSession names the sessions of one identity provider session.
func ByIssuerSession(iss, sid string) OwnerKey {
	return OwnerKey{Kind: KeyIssuerSession, Issuer: iss, SessionID: sid}
}

// Check reports whether k names anything.
func (k OwnerKey) Check() error {
	switch k.Kind {
	case KeySubject, KeyIssuerSubject:
		if k.Subject == "" {
			return errors.New("a subject is required")
		}
	case KeyIssuerSession:
		if k.SessionID == "" {
			return errors.New("a session ID (sid) is required")
		}
	default:
		return errors.New("unknown owner key")
	}
	if len(k.Issuer) > MaxOwnerField || len(k.Subject) > MaxOwnerField || len(k.SessionID) > MaxOwnerField {
		return fmt.Errorf("owner claims longer than %d bytes", MaxOwnerField)
	}
	return nil
}

// Matches reports whether o is one of the owners k names.
func (k OwnerKey) Matches(o Owner) bool {
	switch k.Kind {
	case KeySubject:
		return o.Subject == k.Subject
	case KeyIssuerSubject:
		return o.Issuer == k.Issuer && o.Subject == k.Subject
	case KeyIssuerSession:
		return o.Issuer == k.Issuer && o.SessionID == k.SessionID
	}
	return false
}

// String is a log-safe description: claims are identifiers, not secrets.
func (k OwnerKey) String() string {
	switch k.Kind {
	case KeySubject:
		return fmt.Sprintf("subject %q", k.Subject)
	case KeyIssuerSubject:
		return fmt.Sprintf("subject %q of issuer %q", k.Subject, k.Issuer)
	case KeyIssuerSession:
		return fmt.Sprintf("session %q of issuer %q", k.SessionID, k.Issuer)
	}
	return "no owner"
}

// Sighting is one node's observation that a session belongs to an owner.
type Sighting struct {
	ID    ID
	Owner Owner
	// Seen is when the node saw it.
	Seen time.Time
	// Since is the earliest evidence of the session's existence with this
	// owner: Seen, or earlier when the ID token says so (auth_time, iat).
	// A revocation of the owner at or after Since covers this session.
	Since time.Time
	// Confirmed: a handler behind the gateway set the identity during the
	// request; it is not merely what the client sent.
	Confirmed bool
	// Until is when the record may be forgotten: Seen plus the session
	// lifetime.
	Until time.Time
}

// OwnerRecord is what a store holds for one session.
type OwnerRecord struct {
	ID    ID
	Owner Owner
	// FirstSeen and LastSeen span the sightings so far (LastSeen moves once
	// per refresh interval per node, not on every request).
	FirstSeen, LastSeen time.Time
	// Since is the earliest Since of the sightings.
	Since     time.Time
	Confirmed bool
	Until     time.Time
}

// Recorded is the store's answer to one Sighting.
type Recorded struct {
	// Revoke: the owner was revoked at or after the sighting's Since (a
	// revocation that ran before this record reached the store), so the
	// session must be revoked now.
	Revoke bool
	// Evicted are sessions pushed out of an owner's index by the per-owner
	// cap, oldest first (claimed owners before confirmed ones). They must be
	// revoked: a session no revocation by owner can reach any more would
	// otherwise survive one.
	Evicted []ID
}

// OwnerMark records that an owner was revoked: every session of that
// owner whose Since is at or before At is revoked, when it is recorded
// later too, except Except (the caller's own session, for "log out my
// other sessions"; the zero ID excepts none). Marks are kept until Until.
type OwnerMark struct {
	At     time.Time
	Except ID
	Until  time.Time
}

// Covers reports whether the mark revokes a sighting of id since since.
func (m OwnerMark) Covers(id ID, since time.Time) bool {
	return !m.At.IsZero() && !since.After(m.At) && id != m.Except
}

// OwnerIndex is the optional interface of a Store that remembers who each
// session belongs to (memory, bolt and redis do). Records expire at their
// Until; an owner's index holds at most maxPerOwner sessions.
//
// The store closes the race between a revocation by owner and a sighting
// that reaches it late: MarkOwnerRevoked sets the mark and reads the index
// in one atomic step, and RecordOwners checks the marks and writes the
// index in one atomic step, so a sighting is either listed by the
// revocation or sees its mark.
type OwnerIndex interface {
	// RecordOwners writes a batch of sightings (one write for the batch
	// where the backend allows) and answers for each, in order.
	RecordOwners(ctx context.Context, batch []Sighting, maxPerOwner int) ([]Recorded, error)
	// OwnerOf returns the record of id; false when there is none (or it
	// expired).
	OwnerOf(ctx context.Context, id ID) (OwnerRecord, bool, error)
	// SessionsOf lists the sessions recorded for key, oldest first.
	SessionsOf(ctx context.Context, key OwnerKey) ([]OwnerRecord, error)
	// MarkOwnerRevoked marks key revoked and returns the sessions recorded
	// for it at that moment; a later mark replaces an earlier one.
	MarkOwnerRevoked(ctx context.Context, key OwnerKey, mark OwnerMark) ([]OwnerRecord, error)
}

// ErrNoOwnerIndex is what a store without an OwnerIndex gives when asked
// for owners.
var ErrNoOwnerIndex = errors.New("this session store does not record session owners")

// OwnerHash is a fixed-length, delimiter-free digest of the parts of an
// owner key, for backends' key names: kind, then each part with its length.
// Records carry the claims themselves, so a backend filters by them exactly.
func OwnerHash(kind string, parts ...string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, p := range parts {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		h.Write([]byte(p))
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// PublicID is the session's ID in the self-service API: the shape of a
// Kratos session ID (a UUID, version 8, RFC 9562), taken from the first
// 16 bytes of the ID. Like the ID it names the session without revealing
// the credential.
func (id ID) PublicID() string {
	var u [16]byte
	copy(u[:], id[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:36], u[10:16])
	return string(buf[:])
}

// SortOldestFirst orders records as SessionsOf lists them: by FirstSeen,
// then by ID.
func SortOldestFirst(recs []OwnerRecord) {
	slices.SortFunc(recs, func(a, b OwnerRecord) int {
		if c := a.FirstSeen.Compare(b.FirstSeen); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
}

// EvictsBefore reports whether the per-owner cap pushes a out before b:
// claimed owners before confirmed ones (so that sessions a client merely
// claims for another user cannot push that user's confirmed sessions out),
// then the one last seen longest ago.
func EvictsBefore(a, b OwnerRecord) bool {
	if a.Confirmed != b.Confirmed {
		return !a.Confirmed
	}
	if !a.LastSeen.Equal(b.LastSeen) {
		return a.LastSeen.Before(b.LastSeen)
	}
	return bytes.Compare(a.ID[:], b.ID[:]) < 0
}

// Merge folds sighting s into the record r (exists false: there is none)
// the way every backend does: a sighting of another owner starts a new
// record; one of the same owner widens the times and keeps Confirmed once
// any sighting confirmed it.
func (r OwnerRecord) Merge(exists bool, s Sighting) OwnerRecord {
	if !exists || r.Owner != s.Owner {
		return OwnerRecord{ID: s.ID, Owner: s.Owner, FirstSeen: s.Seen, LastSeen: s.Seen,
			Since: s.Since, Confirmed: s.Confirmed, Until: s.Until}
	}
	if s.Seen.Before(r.FirstSeen) {
		r.FirstSeen = s.Seen
	}
	if s.Seen.After(r.LastSeen) {
		r.LastSeen = s.Seen
	}
	if s.Since.Before(r.Since) {
		r.Since = s.Since
	}
	if s.Until.After(r.Until) {
		r.Until = s.Until
	}
	r.Confirmed = r.Confirmed || s.Confirmed
	return r
}

// MarkKeys are the keys whose marks cover a session of o: its subject, its
// subject at its issuer, and its identity provider session.
func (o Owner) MarkKeys() []OwnerKey {
	keys := []OwnerKey{BySubject(o.Subject), ByIssuerSubject(o.Issuer, o.Subject)}
	if o.SessionID != "" {
		keys = append(keys, ByIssuerSession(o.Issuer, o.SessionID))
	}
	return keys
}

// IndexKeys are the indexes a session of o is listed in: its subject's
// (for BySubject and ByIssuerSubject) and, with a sid, its identity
// provider session's.
func (o Owner) IndexKeys() []OwnerKey {
	keys := []OwnerKey{BySubject(o.Subject)}
	if o.SessionID != "" {
		keys = append(keys, ByIssuerSession(o.Issuer, o.SessionID))
	}
	return keys
}

// IndexKey is the index that lists the sessions k names: the subject's
// index for both subject kinds (filtered by Matches), else k itself.
func (k OwnerKey) IndexKey() OwnerKey {
	if k.Kind == KeyIssuerSubject {
		return BySubject(k.Subject)
	}
	return k
}

// LogFields name the owner k names in a log line: claims are identifiers,
// never credentials.
func (k OwnerKey) LogFields() []zap.Field {
	var f []zap.Field
	if k.Subject != "" {
		f = append(f, zap.String("subject", k.Subject))
	}
	if k.Issuer != "" {
		f = append(f, zap.String("issuer", k.Issuer))
	}
	if k.SessionID != "" {
		f = append(f, zap.String("sid", k.SessionID))
	}
	return f
}
