package boltfile

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/caddy-logout/caddy-logout/session"
)

func openTest(t *testing.T, path string) *File {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "test.db")
	}
	f, err := Open(Options{Name: "test", Path: path, Timeout: time.Second, Buckets: [][]byte{[]byte("extra")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func testID(i int) session.ID { return session.IDOf(fmt.Sprint("boltfile-", i)) }

func put(t *testing.T, f *File, id session.ID, at int64) {
	t.Helper()
	err := f.Update(func(tx *bbolt.Tx) error {
		return PutRecord(tx.Bucket(RecordsBucket), tx.Bucket(ExpiryBucket), id, at)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// records reads every record and checks the invariant the sweep relies
// on: exactly one index entry per record, carrying its expiry.
func records(t *testing.T, f *File) map[session.ID]int64 {
	t.Helper()
	out := map[session.ID]int64{}
	err := f.View(func(tx *bbolt.Tx) error {
		recs, index := tx.Bucket(RecordsBucket), tx.Bucket(ExpiryBucket)
		if r, i := recs.Stats().KeyN, index.Stats().KeyN; r != i {
			return fmt.Errorf("%d records but %d index entries", r, i)
		}
		return recs.ForEach(func(k, v []byte) error {
			at, err := DecodeExpiry(v)
			if err != nil {
				return err
			}
			id := session.ID(k)
			if index.Get(IndexKey(at, id)) == nil {
				return fmt.Errorf("record %x has no index entry for its expiry", k[:6])
			}
			out[id] = at
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpen_CreatesBuckets(t *testing.T) {
	f := openTest(t, "")
	err := f.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{"records", "expiry", "extra"} {
			if tx.Bucket([]byte(name)) == nil {
				return fmt.Errorf("no bucket %q", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPutRecord_KeepsTheLaterExpiry(t *testing.T) {
	f := openTest(t, "")
	id := testID(1)
	for _, at := range []int64{100, 300, 200} {
		put(t, f, id, at)
	}
	if got := records(t, f); len(got) != 1 || got[id] != 300 {
		t.Fatalf("records = %v; want only %s at 300", got, id.Short())
	}
}

func TestPutRecord_OverwritesAMalformedRecord(t *testing.T) {
	f := openTest(t, "")
	id := testID(1)
	err := f.Update(func(tx *bbolt.Tx) error { return tx.Bucket(RecordsBucket).Put(KeyOf(id), []byte("short")) })
	if err != nil {
		t.Fatal(err)
	}
	put(t, f, id, 100)
	if got := records(t, f); got[id] != 100 {
		t.Fatalf("records = %v; want %s at 100", got, id.Short())
	}
}

func TestSweep_InChunks_FollowsMovedRecords_CallsHooks(t *testing.T) {
	f := openTest(t, "")
	const n = 25
	for i := range n {
		put(t, f, testID(i), int64(100+i))
	}
	// Record 0 moved to a later expiry: its old index entry is gone, and
	// the sweep must keep it.
	put(t, f, testID(0), 1000)
	// A malformed index entry goes too, without touching any record.
	err := f.Update(func(tx *bbolt.Tx) error { return tx.Bucket(ExpiryBucket).Put([]byte{0}, []byte{}) })
	if err != nil {
		t.Fatal(err)
	}

	var deleted, commits int
	removed, err := f.Sweep(200, 10, nil, SweepHooks{
		Deleted:   func(*bbolt.Tx, []byte) error { deleted++; return nil },
		Committed: func() { commits++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if removed != n || deleted != n-1 {
		t.Errorf("Sweep removed %d index entries, deleted %d records; want %d and %d", removed, deleted, n, n-1)
	}
	if commits != 3 {
		t.Errorf("Sweep took %d transactions, want 3 of at most 10", commits)
	}
	if got := records(t, f); len(got) != 1 || got[testID(0)] != 1000 {
		t.Errorf("records after sweep = %v; want only the moved one", got)
	}
}

func TestSweep_StopsEarlyWhenStopped(t *testing.T) {
	f := openTest(t, "")
	for i := range 25 {
		put(t, f, testID(i), int64(100+i))
	}
	stop := make(chan struct{})
	close(stop)
	if removed, err := f.Sweep(200, 10, stop, SweepHooks{}); err != nil || removed != 10 {
		t.Fatalf("Sweep with stop closed = %d, %v; want one chunk of 10", removed, err)
	}
}

func TestOpen_Locked_MatchesErrLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	openTest(t, path)
	f, err := Open(Options{Name: "test", Path: path, Timeout: 100 * time.Millisecond})
	if err == nil {
		_ = f.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !errors.Is(err, ErrLockTimeout) {
		t.Errorf("error %q does not match ErrLockTimeout", err)
	}
}

func TestOpen_DamagedFile_ReturnsErrorNamingIt(t *testing.T) {
	valid := filepath.Join(t.TempDir(), "valid.db")
	f := openTest(t, valid)
	for i := range 500 {
		put(t, f, testID(i), int64(1e18+i))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 64<<10)
	_, _ = rand.Read(random)
	for name, content := range map[string][]byte{
		"RandomBytes": random,
		"TextFile":    []byte("this is not a bbolt database\n"),
		"ZeroedPages": make([]byte, 16<<10),
		"Truncated":   content[:3*os.Getpagesize()],
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "damaged.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := Open(Options{Name: "test", Path: path, Timeout: time.Second})
			if err == nil {
				_ = f.Close()
				t.Fatal("Open of a damaged file succeeded")
			}
			if !strings.HasPrefix(err.Error(), "test: ") || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not start with the name and name the path %s", err, path)
			}
		})
	}
}

func TestView_AfterClose_IsErrClosed(t *testing.T) {
	f := openTest(t, "")
	_ = f.Close()
	if err := f.View(func(*bbolt.Tx) error { return nil }); !errors.Is(err, session.ErrClosed) {
		t.Fatalf("View after Close = %v, want session.ErrClosed", err)
	}
}
