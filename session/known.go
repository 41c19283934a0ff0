package session

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
)

// knownTable remembers which sessions this node has recorded an owner for,
// and when, so the guard asks "known?" on every request for the price of a
// few atomic loads: no lock, no allocation, no map.
//
// It is a fixed-size, 4-way set-associative table of 64-bit slots: a
// session's bucket comes from the first bytes of its ID, and a slot holds a
// 40-bit fingerprint from other bytes and the minute it was recorded. It is
// lossy on purpose: a session pushed out of its bucket (or sharing a
// fingerprint with another, one chance in 2^40) is simply recorded again,
// which costs a store write and changes nothing. Memory is 8 bytes a slot,
// whatever the traffic.
type knownTable struct {
	slots []atomic.Uint64
	mask  uint64 // buckets - 1
}

const (
	knownWays      = 4
	knownFPBits    = 40
	knownMinuteBit = 64 - knownFPBits // 24 bits of minutes: 31 years
	knownMaxMinute = 1<<knownMinuteBit - 1
)

// newKnownTable makes a table of at least n slots (rounded up to a power
// of two, at least one bucket).
func newKnownTable(n int) *knownTable {
	buckets := max(1, (n+knownWays-1)/knownWays)
	buckets = 1 << bits.Len(uint(buckets-1))
	return &knownTable{slots: make([]atomic.Uint64, buckets*knownWays), mask: uint64(buckets - 1)}
}

// locate returns id's bucket (its first slot's index) and its fingerprint,
// never zero (zero marks an empty slot).
func (k *knownTable) locate(id ID) (int, uint64) {
	bucket := binary.LittleEndian.Uint64(id[0:8]) & k.mask
	fp := binary.LittleEndian.Uint64(id[8:16]) >> knownMinuteBit
	if fp == 0 {
		fp = 1
	}
	return int(bucket) * knownWays, fp
}

// recordedAt reports the minute id was marked, if it is in the table.
func (k *knownTable) recordedAt(id ID) (minute uint64, ok bool) {
	base, fp := k.locate(id)
	for i := base; i < base+knownWays; i++ {
		if v := k.slots[i].Load(); v>>knownMinuteBit == fp {
			return v & knownMaxMinute, true
		}
	}
	return 0, false
}

// mark notes that id was recorded at minute (1 or more). It takes the
// slot id already has, else an empty one, else the oldest of its bucket.
func (k *knownTable) mark(id ID, minute uint64) {
	base, fp := k.locate(id)
	minute = min(max(minute, 1), knownMaxMinute)
	victim, oldest := base, uint64(knownMaxMinute+1)
	for i := base; i < base+knownWays; i++ {
		v := k.slots[i].Load()
		if v>>knownMinuteBit == fp || v == 0 {
			victim = i
			break
		}
		if m := v & knownMaxMinute; m < oldest {
			victim, oldest = i, m
		}
	}
	k.slots[victim].Store(fp<<knownMinuteBit | minute)
}

// forget drops id, so its next request records it again.
func (k *knownTable) forget(id ID) {
	base, fp := k.locate(id)
	for i := base; i < base+knownWays; i++ {
		if v := k.slots[i].Load(); v>>knownMinuteBit == fp {
			k.slots[i].CompareAndSwap(v, 0)
		}
	}
}
