package memory

import (
	"container/heap"
	"context"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/unixnano"
)

// owners is the Store's session.OwnerIndex: records by session, an index
// per owner key (a subject, an identity provider session), and the marks
// of owners revoked. One mutex makes each call one atomic step, which is
// what closes the race between a revocation by owner and a late record.
type owners struct {
	records  map[session.ID]session.OwnerRecord
	index    map[session.OwnerKey]map[session.ID]struct{}
	marks    map[session.OwnerKey]session.OwnerMark
	expiries expiryHeap // record expiries; stale entries are skipped
}

func newOwners() *owners {
	return &owners{
		records: make(map[session.ID]session.OwnerRecord),
		index:   make(map[session.OwnerKey]map[session.ID]struct{}),
		marks:   make(map[session.OwnerKey]session.OwnerMark),
	}
}

// lockOwners takes the owners' lock for one call; unlock releases it.
func (s *Store) lockOwners(ctx context.Context) (o *owners, unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.omu.Lock()
	if s.owners == nil {
		s.omu.Unlock()
		return nil, nil, session.ErrClosed
	}
	return s.owners, s.omu.Unlock, nil
}

// RecordOwners implements session.OwnerIndex.
func (s *Store) RecordOwners(ctx context.Context, batch []session.Sighting, maxPerOwner int) ([]session.Recorded, error) {
	o, unlock, err := s.lockOwners(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	now := s.now()
	o.forgetExpired(now)
	out := make([]session.Recorded, len(batch))
	for i, sg := range batch {
		if !sg.Until.After(now) || sg.Owner.Check() != nil {
			continue
		}
		old, exists := o.records[sg.ID]
		if exists && old.Owner != sg.Owner {
			o.unindex(old)
		}
		rec := old.Merge(exists, sg)
		o.records[sg.ID] = rec
		if !exists {
			// One heap entry per record: forgetExpired moves it on when
			// the record was refreshed meanwhile.
			heap.Push(&o.expiries, expiry{at: unixnano.Of(rec.Until), id: sg.ID})
		}
		for _, k := range sg.Owner.MarkKeys() {
			if m, ok := o.marks[k]; ok && m.Until.After(now) && m.Covers(sg.ID, sg.Since) {
				out[i].Revoke = true
			}
		}
		for _, k := range sg.Owner.IndexKeys() {
			set := o.index[k]
			if set == nil {
				set = make(map[session.ID]struct{})
				o.index[k] = set
			}
			set[sg.ID] = struct{}{}
			out[i].Evicted = append(out[i].Evicted, o.trim(k, set, maxPerOwner)...)
		}
	}
	return out, nil
}

// trim pushes the sessions past maxPerOwner out of one index.
func (o *owners) trim(k session.OwnerKey, set map[session.ID]struct{}, maxPerOwner int) []session.ID {
	var evicted []session.ID
	for len(set) > max(maxPerOwner, 1) {
		var victim session.OwnerRecord
		first := true
		for id := range set {
			if r := o.records[id]; first || session.EvictsBefore(r, victim) {
				victim, first = r, false
			}
		}
		delete(set, victim.ID)
		evicted = append(evicted, victim.ID)
	}
	if len(set) == 0 {
		delete(o.index, k)
	}
	return evicted
}

// OwnerOf implements session.OwnerIndex.
func (s *Store) OwnerOf(ctx context.Context, id session.ID) (session.OwnerRecord, bool, error) {
	o, unlock, err := s.lockOwners(ctx)
	if err != nil {
		return session.OwnerRecord{}, false, err
	}
	defer unlock()
	r, ok := o.records[id]
	if !ok || !r.Until.After(s.now()) {
		return session.OwnerRecord{}, false, nil
	}
	return r, true, nil
}

// SessionsOf implements session.OwnerIndex.
func (s *Store) SessionsOf(ctx context.Context, key session.OwnerKey) ([]session.OwnerRecord, error) {
	o, unlock, err := s.lockOwners(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return o.sessionsOf(key, s.now()), nil
}

// MarkOwnerRevoked implements session.OwnerIndex.
func (s *Store) MarkOwnerRevoked(ctx context.Context, key session.OwnerKey, mark session.OwnerMark) ([]session.OwnerRecord, error) {
	o, unlock, err := s.lockOwners(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	now := s.now()
	for k, m := range o.marks {
		if !m.Until.After(now) {
			delete(o.marks, k)
		}
	}
	if old, ok := o.marks[key]; !ok || mark.At.After(old.At) {
		o.marks[key] = mark
	}
	return o.sessionsOf(key, now), nil
}

func (o *owners) sessionsOf(key session.OwnerKey, now time.Time) []session.OwnerRecord {
	var out []session.OwnerRecord
	for id := range o.index[key.IndexKey()] {
		if r := o.records[id]; r.Until.After(now) && key.Matches(r.Owner) {
			out = append(out, r)
		}
	}
	session.SortOldestFirst(out)
	return out
}

// unindex takes a record out of every index it is in.
func (o *owners) unindex(r session.OwnerRecord) {
	for _, k := range r.Owner.IndexKeys() {
		if set := o.index[k]; set != nil {
			delete(set, r.ID)
			if len(set) == 0 {
				delete(o.index, k)
			}
		}
	}
}

// forgetExpired drops the records whose Until has passed, in expiry order.
// A record refreshed since its entry was pushed gets a new entry instead.
func (o *owners) forgetExpired(now time.Time) {
	at := now.UnixNano()
	for len(o.expiries) > 0 && o.expiries[0].at <= at {
		e := heap.Pop(&o.expiries).(expiry)
		r, ok := o.records[e.id]
		switch {
		case !ok:
		case unixnano.Of(r.Until) > at:
			heap.Push(&o.expiries, expiry{at: unixnano.Of(r.Until), id: e.id})
		default:
			o.unindex(r)
			delete(o.records, e.id)
		}
	}
}

// OwnerCount is the number of owner records held, for tests and status.
func (s *Store) OwnerCount() int {
	s.omu.Lock()
	defer s.omu.Unlock()
	if s.owners == nil {
		return 0
	}
	s.owners.forgetExpired(s.now())
	return len(s.owners.records)
}

var _ session.OwnerIndex = (*Store)(nil)
