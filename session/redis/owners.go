package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-logout/caddy-logout/session"
)

// Session owners (session.OwnerIndex) in Redis:
//
//	<prefix>owner:<hex ID>          hash  iss sub sid first last since until c
//	<prefix>{o:<owner hash>}:idx    zset  hex ID -> score
//	<prefix>{o:<owner hash>}:mark   hash  "*" and "i:<iss>" -> at:until:except
//
// Every key expires (PEXPIREAT) with the latest record or mark it holds,
// and an index drops its expired members whenever it is written, so Redis
// holds nothing past the session lifetime. An owner hash names one index:
// a subject's (session.OwnerHash "sub") or an identity provider session's
// ("sid"); a subject's mark hash holds the mark of the subject ("*") and
// of the subject at each issuer ("i:<iss>").
//
// An index and its marks share a hash tag, so one Lua script checks the
// marks and writes the index atomically (also in Cluster, where a script
// touches one slot): the race between a revocation by owner and a late
// record is closed there. The record of the session itself is another
// slot, written by its own script in the same pipeline: one round trip
// for a whole batch of sightings.
//
// Scores order an index the way the per-owner cap evicts: a confirmed
// member's score is its until (unix ms), a claimed member's its until
// minus claimedOffset, so claimed members sort first and ZPOPMIN takes the
// oldest of them before any confirmed one. Once confirmed, a member stays
// confirmed (its score never drops below zero).

// claimedOffset (2^44 ms, 557 years) puts claimed members' scores below
// every confirmed one's, exactly representable in a double.
const claimedOffset = 1 << 44

// recordIndexScript checks the marks and adds one member to an index.
//
//	KEYS[1] index   KEYS[2] marks
//	ARGV[1] member (hex ID)  ARGV[2] until (ms)  ARGV[3] confirmed (0/1)
//	ARGV[4] since (ms)       ARGV[5] now (ms)    ARGV[6] cap
//	ARGV[7] the issuer-subject mark field, or "" (an identity provider session's index)
//
// It returns {revoke (0/1), evicted members...}.
var recordIndexScript = goredis.NewScript(`
local member, untilms, confirmed = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local since, now, cap, off = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ` + strconv.Itoa(claimedOffset) + `
local function covers(v)
	if not v then return false end
	local at, mu, except = string.match(v, '^(%d+):(%d+):(%x*)$')
	if not at then return false end
	return tonumber(mu) > now and since <= tonumber(at) and except ~= member
end
local revoke = covers(redis.call('HGET', KEYS[2], '*'))
if ARGV[7] ~= '' and covers(redis.call('HGET', KEYS[2], ARGV[7])) then revoke = true end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - off)
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now)
local score = untilms - off
if confirmed then score = untilms end
local cur = tonumber(redis.call('ZSCORE', KEYS[1], member))
if cur then
	if cur >= 0 and score < 0 then score = score + off end
	if cur > score then score = cur end
end
redis.call('ZADD', KEYS[1], score, member)
local out = {0}
if revoke then out[1] = 1 end
local n = redis.call('ZCARD', KEYS[1])
if n > cap then
	local popped = redis.call('ZPOPMIN', KEYS[1], n - cap)
	for i = 1, #popped, 2 do out[#out + 1] = popped[i] end
end
if redis.call('PTTL', KEYS[1]) < untilms - now then redis.call('PEXPIREAT', KEYS[1], untilms) end
return out
`)

// recordSessionScript merges a sighting into the session's record.
//
//	KEYS[1] record
//	ARGV[1..3] iss sub sid  ARGV[4] seen (ms)  ARGV[5] since (ms)
//	ARGV[6] until (ms)      ARGV[7] confirmed (0/1)
//
// It returns {0} or, when the record held another owner, {1, iss, sub,
// sid} of that owner, whose indexes no longer list the session.
var recordSessionScript = goredis.NewScript(`
local k = KEYS[1]
local cur = redis.call('HMGET', k, 'iss', 'sub', 'sid', 'first', 'last', 'since', 'until', 'c')
local first, last, since, untilms, c = ARGV[4], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local out = {0}
if cur[2] then
	if cur[1] == ARGV[1] and cur[2] == ARGV[2] and cur[3] == ARGV[3] then
		if tonumber(cur[4]) < tonumber(first) then first = cur[4] end
		if tonumber(cur[5]) > tonumber(last) then last = cur[5] end
		if tonumber(cur[6]) < tonumber(since) then since = cur[6] end
		if tonumber(cur[7]) > tonumber(untilms) then untilms = cur[7] end
		if cur[8] == '1' then c = '1' end
	else
		out = {1, cur[1], cur[2], cur[3]}
	end
end
redis.call('HSET', k, 'iss', ARGV[1], 'sub', ARGV[2], 'sid', ARGV[3], 'first', first, 'last', last,
	'since', since, 'until', untilms, 'c', c)
redis.call('PEXPIREAT', k, untilms)
return out
`)

// markScript sets a mark unless a later live one is there, and lists the
// index, in one step.
//
//	KEYS[1] index   KEYS[2] marks
//	ARGV[1] field   ARGV[2] at (ms)   ARGV[3] until (ms)   ARGV[4] except (hex or "")
//	ARGV[5] now (ms)
var markScript = goredis.NewScript(`
local now, at, untilms = tonumber(ARGV[5]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cur = redis.call('HGET', KEYS[2], ARGV[1])
local set = true
if cur then
	local cat, cu = string.match(cur, '^(%d+):(%d+):')
	if cat and tonumber(cu) > now and tonumber(cat) >= at then set = false end
end
if set then
	redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4])
	if redis.call('PTTL', KEYS[2]) < untilms - now then redis.call('PEXPIREAT', KEYS[2], untilms) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ` + strconv.Itoa(claimedOffset) + `)
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`)

var ownerScripts = []*goredis.Script{recordIndexScript, recordSessionScript, markScript}

// ownerKeys are the two keys of one owner index.
type ownerKeys struct{ index, marks string }

func (s *Store) ownerKeysOf(k session.OwnerKey) ownerKeys {
	k = k.IndexKey()
	var h [32]byte
	if k.Kind == session.KeyIssuerSession {
		h = session.OwnerHash("sid", k.Issuer, k.SessionID)
	} else {
		h = session.OwnerHash("sub", k.Subject)
	}
	tag := s.prefix + "{o:" + hex.EncodeToString(h[:16]) + "}:"
	return ownerKeys{index: tag + "idx", marks: tag + "mark"}
}

// markField is a mark's field in its owner's mark hash.
func markField(k session.OwnerKey) string {
	if k.Kind == session.KeyIssuerSubject {
		return "i:" + k.Issuer
	}
	return "*"
}

// OwnerKey is the Redis key of id's owner record.
func (s *Store) OwnerKey(id session.ID) string { return s.prefix + "owner:" + id.String() }

// RecordOwners implements session.OwnerIndex: one pipeline for the batch.
func (s *Store) RecordOwners(ctx context.Context, batch []session.Sighting, maxPerOwner int) ([]session.Recorded, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, session.ErrClosed
	}
	now := s.now().UnixMilli()
	type pending struct {
		i      int
		record *goredis.Cmd
		index  []*goredis.Cmd
	}
	var todo []pending
	err := s.runScripts(ctx, func(p goredis.Pipeliner) {
		todo = todo[:0]
		for i, sg := range batch {
			until := sg.Until.UnixMilli()
			if until <= now || sg.Owner.Check() != nil {
				continue
			}
			member, c := sg.ID.String(), "0"
			if sg.Confirmed {
				c = "1"
			}
			pd := pending{i: i, record: recordSessionScript.EvalSha(ctx, p, []string{s.OwnerKey(sg.ID)},
				sg.Owner.Issuer, sg.Owner.Subject, sg.Owner.SessionID, sg.Seen.UnixMilli(), sg.Since.UnixMilli(), until, c)}
			for _, k := range sg.Owner.IndexKeys() {
				keys, field := s.ownerKeysOf(k), ""
				if k.Kind == session.KeySubject {
					field = markField(session.ByIssuerSubject(sg.Owner.Issuer, sg.Owner.Subject))
				}
				pd.index = append(pd.index, recordIndexScript.EvalSha(ctx, p, []string{keys.index, keys.marks},
					member, until, c, sg.Since.UnixMilli(), now, max(maxPerOwner, 1), field))
			}
			todo = append(todo, pd)
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]session.Recorded, len(batch))
	var moved []session.Owner
	var movedIDs []session.ID
	for _, pd := range todo {
		v, err := pd.record.Slice()
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		if len(v) == 4 {
			old := session.Owner{Issuer: str(v[1]), Subject: str(v[2]), SessionID: str(v[3])}
			moved, movedIDs = append(moved, old), append(movedIDs, batch[pd.i].ID)
		}
		for _, c := range pd.index {
			v, err := c.Slice()
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			if len(v) == 0 {
				return nil, s.fail(ctx, errors.New("owner index script answered nothing"))
			}
			if str(v[0]) == "1" {
				out[pd.i].Revoke = true
			}
			for _, m := range v[1:] {
				if id, err := session.ParseID(str(m)); err == nil {
					out[pd.i].Evicted = append(out[pd.i].Evicted, id)
				}
			}
		}
	}
	if len(moved) > 0 {
		// The sessions changed owner: their old owners' indexes must not
		// list them any more.
		_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, o := range moved {
				for _, k := range o.IndexKeys() {
					p.ZRem(ctx, s.ownerKeysOf(k).index, movedIDs[i].String())
				}
			}
			return nil
		})
		if err != nil {
			return nil, s.fail(ctx, err)
		}
	}
	return out, nil
}

// OwnerOf implements session.OwnerIndex.
func (s *Store) OwnerOf(ctx context.Context, id session.ID) (session.OwnerRecord, bool, error) {
	if s.closed.Load() {
		return session.OwnerRecord{}, false, session.ErrClosed
	}
	recs, err := s.readOwners(ctx, []session.ID{id})
	if err != nil || len(recs) == 0 {
		return session.OwnerRecord{}, false, err
	}
	return recs[0], true, nil
}

// SessionsOf implements session.OwnerIndex.
func (s *Store) SessionsOf(ctx context.Context, key session.OwnerKey) ([]session.OwnerRecord, error) {
	if s.closed.Load() {
		return nil, session.ErrClosed
	}
	members, err := s.client.ZRange(ctx, s.ownerKeysOf(key).index, 0, -1).Result()
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return s.recordsOf(ctx, key, members)
}

// MarkOwnerRevoked implements session.OwnerIndex.
func (s *Store) MarkOwnerRevoked(ctx context.Context, key session.OwnerKey, mark session.OwnerMark) ([]session.OwnerRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, session.ErrClosed
	}
	except := ""
	if mark.Except != (session.ID{}) {
		except = mark.Except.String()
	}
	keys := s.ownerKeysOf(key)
	var cmd *goredis.Cmd
	err := s.runScripts(ctx, func(p goredis.Pipeliner) {
		cmd = markScript.EvalSha(ctx, p, []string{keys.index, keys.marks},
			markField(key), mark.At.UnixMilli(), mark.Until.UnixMilli(), except, s.now().UnixMilli())
	})
	if err != nil {
		return nil, err
	}
	members, err := cmd.StringSlice()
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return s.listedBy(ctx, key, members)
}

// listedBy is what a revocation by owner must revoke: every member the
// mark's script listed. In Cluster a session's record is another slot, so
// a pipeline may have added the index entry (before the mark: then the
// script saw no mark) while the record is still on its way; such a member
// is listed all the same, with the owner its index stands for. (With
// ByIssuerSubject that may take in a session of the same subject at
// another issuer, which a revocation can afford: it only refuses.)
func (s *Store) listedBy(ctx context.Context, key session.OwnerKey, members []string) ([]session.OwnerRecord, error) {
	recs, err := s.recordsOf(ctx, key, members)
	if err != nil {
		return nil, err
	}
	have := make(map[session.ID]bool, len(recs))
	for _, r := range recs {
		have[r.ID] = true
	}
	for _, m := range members {
		id, err := session.ParseID(m)
		if err != nil || have[id] {
			continue
		}
		if rec, ok, err := s.OwnerOf(ctx, id); err != nil || ok {
			if err != nil {
				return nil, err
			}
			if !key.Matches(rec.Owner) {
				continue // recorded meanwhile, for another owner of this index
			}
			recs = append(recs, rec)
			continue
		}
		recs = append(recs, session.OwnerRecord{ID: id, Owner: session.Owner{Issuer: key.Issuer, Subject: key.Subject, SessionID: key.SessionID}})
	}
	return recs, nil
}

// recordsOf reads the records of an index's members that key names.
func (s *Store) recordsOf(ctx context.Context, key session.OwnerKey, members []string) ([]session.OwnerRecord, error) {
	ids := make([]session.ID, 0, len(members))
	for _, m := range members {
		if id, err := session.ParseID(m); err == nil {
			ids = append(ids, id)
		}
	}
	recs, err := s.readOwners(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, r := range recs {
		if key.Matches(r.Owner) {
			out = append(out, r)
		}
	}
	session.SortOldestFirst(out)
	return out, nil
}

// readOwners reads records in one pipeline; missing, expired and
// malformed ones are left out.
func (s *Store) readOwners(ctx context.Context, ids []session.ID) ([]session.OwnerRecord, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.SliceCmd, len(ids))
	_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.OwnerKey(id), "iss", "sub", "sid", "first", "last", "since", "until", "c")
		}
		return nil
	})
	now := s.now()
	var out []session.OwnerRecord
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		rec, ok := parseOwner(ids[i], v)
		if ok && rec.Until.After(now) {
			out = append(out, rec)
		}
	}
	return out, nil
}

func parseOwner(id session.ID, v []any) (session.OwnerRecord, bool) {
	if len(v) != 8 || v[1] == nil {
		return session.OwnerRecord{}, false
	}
	r := session.OwnerRecord{ID: id, Owner: session.Owner{Issuer: str(v[0]), Subject: str(v[1]), SessionID: str(v[2])}, Confirmed: str(v[7]) == "1"}
	for i, t := range []*time.Time{&r.FirstSeen, &r.LastSeen, &r.Since, &r.Until} {
		ms, err := strconv.ParseInt(str(v[3+i]), 10, 64)
		if err != nil {
			return session.OwnerRecord{}, false
		}
		*t = time.UnixMilli(ms)
	}
	return r, true
}

// runScripts runs a pipeline of owner scripts by SHA; if Redis has not
// got them (NOSCRIPT: a fresh or restarted server), it loads them and runs
// the pipeline again (every script is safe to run twice).
func (s *Store) runScripts(ctx context.Context, fill func(p goredis.Pipeliner)) error {
	for attempt := 0; ; attempt++ {
		_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			fill(p)
			return nil
		})
		if err == nil {
			return nil
		}
		if attempt > 0 || !isNoScript(err) {
			return s.fail(ctx, err)
		}
		for _, sc := range ownerScripts {
			if err := sc.Load(ctx, s.client).Err(); err != nil {
				return s.fail(ctx, err)
			}
		}
	}
}

func isNoScript(err error) bool {
	var re goredis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "NOSCRIPT")
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

var _ session.OwnerIndex = (*Store)(nil)
