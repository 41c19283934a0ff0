package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// TestKeys_Generated_ConcurrentCallersAgreeOnOneKey: eight callers racing on an
// empty storage (half through one FileStorage, half through their own, as
// separate processes would) all come back with the same key, which is the
// one left in storage.
func TestKeys_Generated_ConcurrentCallersAgreeOnOneKey(t *testing.T) {
	dir := t.TempDir()
	shared := &certmagic.FileStorage{Path: dir}
	const callers = 8
	keys := make([][]byte, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		storage := certmagic.Storage(shared)
		if i%2 == 1 {
			storage = &certmagic.FileStorage{Path: dir}
		}
		wg.Go(func() {
			<-start
			keys[i], errs[i] = storedKey(context.Background(), storage)
		})
	}
	close(start)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if len(keys[i]) != 32 {
			t.Fatalf("caller %d: key of %d bytes", i, len(keys[i]))
		}
		if string(keys[i]) != string(keys[0]) {
			t.Fatalf("caller %d got another key than caller 0", i)
		}
	}
	again, err := storedKey(context.Background(), &certmagic.FileStorage{Path: dir})
	if err != nil || string(again) != string(keys[0]) {
		t.Fatalf("a later load got another key (%v)", err)
	}
	if locks, _ := filepath.Glob(filepath.Join(dir, "locks", "*")); len(locks) != 0 {
		t.Fatalf("locks left behind: %v", locks)
	}
}

func TestKeys_Generated_CorruptFailsWithWhatToDo(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	if err := storage.Store(context.Background(), generatedKeyPath, []byte("c2hvcnQ=")); err != nil {
		t.Fatal(err)
	}
	_, err := storedKey(context.Background(), storage)
	if err == nil || !strings.Contains(err.Error(), "corrupt; delete it") {
		t.Fatalf("short stored key: %v", err)
	}
}

// TestLoadKeys_EnvAndFilePlaceholders_AreTheKeys: the key is exactly the
// variable's value and the file's content (less one trailing newline, as
// Caddy reads {file.*}); the first entry signs, the second verifies.
func TestLoadKeys_EnvAndFilePlaceholders_AreTheKeys(t *testing.T) {
	envKey, fileKey := randomKey(t), randomKey(t)
	t.Setenv("LOGOUT_TEST_KEYS_ENV", envKey)
	file := filepath.Join(t.TempDir(), "old.key")
	if err := os.WriteFile(file, []byte(fileKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := loadKeys(caddy.Context{Context: context.Background()},
		[]string{"{env.LOGOUT_TEST_KEYS_ENV}", "{file." + file + "}"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	id, now := session.IDOf("cookie"), time.Now()
	byEnv, byFile := mustNewKeys(t, envKey), mustNewKeys(t, fileKey)
	if err := byEnv.VerifyLogoutToken(keys.SignLogoutToken(id, now, time.Hour), id, now); err != nil {
		t.Fatalf("the loaded keys do not sign with the {env.*} value: %v", err)
	}
	if err := keys.VerifyLogoutToken(byFile.SignLogoutToken(id, now, time.Hour), id, now); err != nil {
		t.Fatalf("the loaded keys do not verify with the {file.*} content: %v", err)
	}
	withNewline := mustNewKeys(t, fileKey+"\n")
	if keys.VerifyLogoutToken(withNewline.SignLogoutToken(id, now, time.Hour), id, now) == nil {
		t.Fatal("the file's trailing newline is part of the key")
	}
}

// TestLoadKeys_MissingEnvOrFile_ClearError: the error names the entry and
// the placeholder that came up empty.
func TestLoadKeys_MissingEnvOrFile_ClearError(t *testing.T) {
	t.Setenv("LOGOUT_TEST_KEYS_ENV", randomKey(t))
	empty := filepath.Join(t.TempDir(), "empty.key")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, missing := range []string{
		"{env.LOGOUT_TEST_NO_SUCH_VAR}",
		"{file./nonexistent/logout.key}",
		"{file." + empty + "}",
	} {
		_, err := loadKeys(caddy.Context{Context: context.Background()},
			[]string{"{env.LOGOUT_TEST_KEYS_ENV}", missing}, zap.NewNop())
		want := "signing_key #2: evaluated placeholder " + missing + " is empty"
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", missing, err, want)
		}
	}
}

func randomKey(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func mustNewKeys(t *testing.T, key string) *session.Keys {
	t.Helper()
	k, err := session.NewKeys([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
