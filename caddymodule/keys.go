package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// generatedKeyPath is where a generated signing key lives in Caddy's
// storage: every node sharing that storage signs with the same key.
const generatedKeyPath = "caddy-logout/signing_key"

// loadKeys resolves the signing_key entries (placeholders such as
// {env.X} and {file.X} are expanded here, at load, never on requests), or
// falls back to the key in Caddy's storage.
func loadKeys(ctx caddy.Context, entries []string, logger *zap.Logger) (*session.Keys, error) {
	if len(entries) == 0 {
		key, err := storedKey(ctx, ctx.Storage())
		if err != nil {
			return nil, fmt.Errorf("signing key from storage: %w", err)
		}
		return session.NewKeys(key)
	}
	keys, err := resolveKeys("signing_key", entries)
	if err != nil {
		return nil, err
	}
	if len(entries) > 1 {
		logger.Info("signing with the first of several keys; the others only verify", zap.Int("keys", len(entries)))
	}
	return session.NewKeys(keys...)
}

// loadSealKeys resolves the seal_key entries as loadKeys does.
func loadSealKeys(entries []string) (*session.Sealer, error) {
	keys, err := resolveKeys("seal_key", entries)
	if err != nil {
		return nil, err
	}
	return session.NewSealer(keys...)
}

// resolveKeys expands the placeholders of an option's keys and checks
// their length.
func resolveKeys(option string, entries []string) ([][]byte, error) {
	repl := caddy.NewReplacer()
	keys := make([][]byte, 0, len(entries))
	for i, entry := range entries {
		v, err := repl.ReplaceOrErr(entry, true, true)
		if err != nil {
			return nil, fmt.Errorf("%s #%d: %w", option, i+1, err)
		}
		if len(v) < session.MinKeyLength {
			return nil, fmt.Errorf("%s #%d must be at least %d bytes (got %d)", option, i+1, session.MinKeyLength, len(v))
		}
		keys = append(keys, []byte(v))
	}
	return keys, nil
}

// storedKey loads the generated key, creating it under a storage lock so
// that nodes starting together agree on one key.
func storedKey(ctx context.Context, storage certmagic.Storage) ([]byte, error) {
	if key, err := readStoredKey(ctx, storage); err == nil {
		return key, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}

	lockCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := storage.Lock(lockCtx, generatedKeyPath); err != nil {
		return nil, err
	}
	defer func() { _ = storage.Unlock(context.Background(), generatedKeyPath) }()

	// Another node may have created it while we waited for the lock.
	if key, err := readStoredKey(ctx, storage); err == nil {
		return key, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	encoded := base64.StdEncoding.EncodeToString(key)
	if err := storage.Store(ctx, generatedKeyPath, []byte(encoded)); err != nil {
		return nil, err
	}
	return key, nil
}

func readStoredKey(ctx context.Context, storage certmagic.Storage) ([]byte, error) {
	raw, err := storage.Load(ctx, generatedKeyPath)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) < session.MinKeyLength {
		return nil, fmt.Errorf("stored key at %s is corrupt; delete it to generate a new one", generatedKeyPath)
	}
	return key, nil
}
