package redis

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session/internal/view"
)

// The view is saved to a file now and then and at Close, and read back at
// start, before Redis is asked: a node that starts while Redis is down,
// or after Redis lost revocations, still refuses every revocation it had
// heard of when it last saved. A saved view is never current on its own;
// it only adds revocations.
//
// The file: a header line, then one record per revocation (its key, its
// shard, its until: 17 bytes), then the record count and a CRC-32C of all
// that came before. A file that does not check out is ignored (and said
// so), never trusted in part.

const snapshotHeader = "caddy-logout view 1\n"

const snapshotRecord = 8 + 1 + 8

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// snapshotEvery is how often the view is saved while it changes.
const snapshotEvery = 5 * time.Minute

// saveView writes the view to path, atomically (a temporary file renamed).
func saveView(set *view.Set, path string) (n int, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".view-*.tmp")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	crc := crc32.New(crcTable)
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	if _, err := w.WriteString(snapshotHeader); err != nil {
		return 0, err
	}
	var rec [snapshotRecord]byte
	var werr error
	set.Each(func(e view.Entry) {
		if werr != nil {
			return
		}
		binary.LittleEndian.PutUint64(rec[0:8], e.Key)
		rec[8] = e.Shard
		binary.LittleEndian.PutUint64(rec[9:17], uint64(e.Until))
		_, werr = w.Write(rec[:])
		n++
	})
	if werr != nil {
		return 0, werr
	}
	var count [8]byte
	binary.LittleEndian.PutUint64(count[:], uint64(n))
	if _, err := w.Write(count[:]); err != nil {
		return 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc.Sum32())
	if _, err := f.Write(sum[:]); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return n, os.Rename(f.Name(), path)
}

// errBadSnapshot is a saved view that does not check out.
var errBadSnapshot = errors.New("not a saved view, or damaged")

// loadView adds the live revocations of the saved view at path to set. A
// missing file is no error (nothing was saved yet).
func loadView(set *view.Set, path string, now int64) (read, added int, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	body := len(b) - 8 - 4
	if body < len(snapshotHeader) || string(b[:len(snapshotHeader)]) != snapshotHeader ||
		(body-len(snapshotHeader))%snapshotRecord != 0 {
		return 0, 0, errBadSnapshot
	}
	if crc32.Checksum(b[:body+8], crcTable) != binary.LittleEndian.Uint32(b[body+8:]) ||
		binary.LittleEndian.Uint64(b[body:body+8]) != uint64((body-len(snapshotHeader))/snapshotRecord) {
		return 0, 0, errBadSnapshot
	}
	for rec := b[len(snapshotHeader):body]; len(rec) > 0; rec = rec[snapshotRecord:] {
		read++
		e := view.Entry{
			Key:   binary.LittleEndian.Uint64(rec[0:8]),
			Shard: rec[8],
			Until: int64(binary.LittleEndian.Uint64(rec[9:17])),
		}
		if e.Until > now && set.AddEntry(e) {
			added++
		}
	}
	return read, added, nil
}

// loadSaved reads the saved view, if the store keeps one.
func (s *Store) loadSaved() {
	if s.snapshot == "" {
		return
	}
	start := time.Now()
	read, added, err := loadView(s.view.Set(), s.snapshot, s.now().UnixMilli())
	switch {
	case err != nil:
		s.log.Warn("ignoring the saved view of Redis", zap.String("file", s.snapshot), zap.Error(err))
	case read > 0:
		s.log.Info("saved view of Redis read: this node refuses what it held when it last saved, before Redis answers",
			zap.String("file", s.snapshot), zap.Int("saved", read), zap.Int("live", added),
			zap.Duration("took", time.Since(start)))
	}
}

// save writes the view if it changed since it was last saved, and once it
// has loaded from Redis: a store closed before that (the journal locked by
// another process: `caddy validate` next to a running Caddy) must not
// replace the running one's file with less.
func (s *Store) save() {
	if s.snapshot == "" || s.reloads.Load() == 0 {
		return
	}
	version := s.view.Set().Version()
	if version == s.savedVersion {
		return
	}
	n, err := saveView(s.view.Set(), s.snapshot)
	if err != nil {
		s.log.Warn("saving the view of Redis failed", zap.String("file", s.snapshot), zap.Error(err))
		return
	}
	s.savedVersion = version
	s.log.Debug("view of Redis saved", zap.String("file", s.snapshot), zap.Int("revocations", n))
}
