package caddymodule

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/journal"
	"github.com/caddy-logout/caddy-logout/session/redis"
)

func init() {
	caddy.RegisterModule(RedisStore{})
}

// RedisStore keeps revocations in Redis, for several Caddy nodes: a
// revocation made on one node is appended to a revocation log (a Redis
// Stream) that every node reads into its view, an in-memory copy of every
// revocation, so each refuses it at once and answers "not revoked" without
// asking Redis. Standalone, Sentinel (master_name) and Cluster
// (several addresses) all work. Each node also keeps a local journal (a
// bbolt file in Caddy's data directory): logouts accepted while Redis is
// away are kept there and written to Redis when it is back, and this
// node's revocations are written again if Redis comes back without them.
//
// At start, Redis refusing the credentials (or any other error reply)
// fails the config load. Redis not answering fails it too, unless this
// node has reached that Redis before (its journal remembers): then it is
// an outage, and Caddy starts degraded rather than not at all.
type RedisStore struct {
	// host:port of the Redis server; several for Cluster seeds, or the
	// Sentinels with master_name. Default: 127.0.0.1:6379.
	Addresses []string `json:"addresses,omitempty"`
	// Sentinel: the name of the master the Sentinels at Addresses monitor.
	MasterName string `json:"master_name,omitempty"`
	// ACL user (Redis 6+). Placeholders such as {env.REDIS_USER} are
	// resolved at load.
	Username string `json:"username,omitempty"`
	// Password (requirepass or the ACL user's). Use a placeholder such as
	// {env.REDIS_PASSWORD} or {file./run/secrets/redis}, resolved at load,
	// so the secret stays out of the config.
	Password string `json:"password,omitempty"`
	// Database number (standalone and Sentinel only). Default 0.
	DB int `json:"db,omitempty"`
	// Connect with TLS. An empty object verifies the server against the
	// system's roots, for the name in its address.
	TLS *RedisTLS `json:"tls,omitempty"`
	// Starts every key (and the revocation log's), so several deployments
	// can share one Redis. Default: logout:
	KeyPrefix string `json:"key_prefix,omitempty"`
	// The most revocations each node holds in memory (40-70 bytes
	// each). Past it, lookups of sessions the view does not hold go to
	// Redis, with a warning and a metric. Default: 10000000.
	ViewLimit int `json:"view_limit,omitempty"`

	addrs              []string
	username, password string
	tlsConfig          *tls.Config
	logger             *zap.Logger
}

// RedisTLS is how the store verifies Redis's certificate.
type RedisTLS struct {
	// The CAs that sign the server's certificate, from one of Caddy's
	// tls.ca_pool.source modules (file, inline, pki_root, storage, http,
	// ...). Default: the system's roots.
	CARaw json.RawMessage `json:"ca,omitempty" caddy:"namespace=tls.ca_pool.source inline_key=provider"`
	// The name the certificate must be for. Default: the host of each
	// address.
	ServerName string `json:"server_name,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (RedisStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "logout.stores.redis", New: func() caddy.Module { return new(RedisStore) }}
}

// Provision resolves placeholders and checks the options.
func (r *RedisStore) Provision(ctx caddy.Context) error {
	r.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	var err error
	if r.username, err = repl.ReplaceOrErr(r.Username, true, true); err != nil {
		return fmt.Errorf("redis store: username: %w", err)
	}
	if r.password, err = repl.ReplaceOrErr(r.Password, true, true); err != nil {
		return fmt.Errorf("redis store: password: %w", err)
	}
	r.addrs = r.addrs[:0]
	for _, a := range r.Addresses {
		if err := checkAddress(a); err != nil {
			return fmt.Errorf("redis store: address: %w", err)
		}
		r.addrs = append(r.addrs, a)
	}
	if len(r.addrs) == 0 {
		r.addrs = []string{redis.DefaultAddr}
	}
	if r.DB < 0 {
		return fmt.Errorf("redis store: db must be 0 or more (got %d)", r.DB)
	}
	if r.DB != 0 && r.MasterName == "" && len(r.addrs) > 1 {
		return fmt.Errorf("redis store: db must be 0 with several addresses (Redis Cluster has one database); for Sentinel set master_name")
	}
	if err := checkKeyPrefix(r.KeyPrefix); err != nil {
		return fmt.Errorf("redis store: key_prefix: %w", err)
	}
	if err := checkViewLimit(r.ViewLimit); err != nil {
		return fmt.Errorf("redis store: %w", err)
	}
	if r.tlsConfig, err = r.TLS.config(ctx); err != nil {
		return fmt.Errorf("redis store: tls: %w", err)
	}
	if refs, open := storePool.References(r.StoreKey()); open && refs > 0 {
		if fp, ok := redisSettings.Load(r.StoreKey()); ok && fp != r.settingsFingerprint() {
			r.logger.Warn("redis store: username, password or tls changed for a store that is already open; "+
				"the open connections keep the old settings until Caddy restarts",
				zap.String("store", r.StoreKey()))
		}
	}
	return nil
}

// StoreKey implements StoreModule: addresses, database and key prefix
// identify the data set (never the password: the key shows up in metrics
// and the admin API). It also names this node's journal file.
func (r *RedisStore) StoreKey() string {
	addrs := slices.Clone(r.addrs)
	if len(addrs) == 0 {
		addrs = slices.Clone(r.Addresses)
	}
	if len(addrs) == 0 {
		addrs = []string{redis.DefaultAddr}
	}
	slices.Sort(addrs)
	prefix := r.KeyPrefix
	if prefix == "" {
		prefix = redis.DefaultKeyPrefix
	}
	where := strings.Join(addrs, ",")
	if r.MasterName != "" {
		where = r.MasterName + "@" + where
	}
	return fmt.Sprintf("redis:%s/%d/%s", where, r.DB, prefix)
}

// journalPath is this node's journal for the store: under Caddy's data
// directory, named by a hash of the store key.
func (r *RedisStore) journalPath() string { return r.dataFile("journal-", ".db") }

// savedViewPath is where this node saves its view of the store, beside
// the journal.
func (r *RedisStore) savedViewPath() string { return r.dataFile("view-", ".snap") }

func (r *RedisStore) dataFile(prefix, suffix string) string {
	sum := sha256.Sum256([]byte(r.StoreKey()))
	return filepath.Join(caddy.AppDataDir(), "logout", prefix+hex.EncodeToString(sum[:8])+suffix)
}

// startTimeout bounds the PING at start.
const startTimeout = 5 * time.Second

// OpenStore implements StoreModule: connect, check the credentials, open
// the journal in front.
func (r *RedisStore) OpenStore(ctx caddy.Context) (session.Store, error) {
	log := r.logger
	if log == nil {
		log = ctx.Logger()
	}
	routeClientLogs()
	opts := redis.Options{
		Addrs:      r.addrs,
		MasterName: r.MasterName,
		Username:   r.username,
		Password:   r.password,
		DB:         r.DB,
		KeyPrefix:  r.KeyPrefix,
		ViewLimit:  r.ViewLimit,
		SavedView:  r.savedViewPath(),
		Logger:     log,
	}
	if r.tlsConfig != nil {
		opts.TLS = r.tlsConfig.Clone()
	}
	rs, err := redis.New(opts)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(context.Background(), startTimeout)
	pingErr := rs.Ping(pingCtx)
	cancel()
	if pingErr != nil && (!redis.IsUnreachable(pingErr) || redis.IsTLSError(pingErr)) {
		// Wrong credentials, a database that does not exist, a certificate
		// that does not verify: configuration. (Starting degraded on a
		// certificate error would only wait for something that never comes.)
		_ = rs.Close()
		return nil, pingErr
	}
	j, err := journal.Open(rs, journal.Options{Path: r.journalPath(), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	if pingErr != nil {
		if !j.EverReached() {
			_ = j.Close()
			return nil, fmt.Errorf("%w (this node has never reached this Redis, so it does not start; "+
				"once it has, an outage at start only makes it start degraded)", pingErr)
		}
		log.Warn("redis store unreachable at start; starting degraded: logouts go to the local journal "+
			"until Redis is back, lookups the cache cannot answer follow on_store_error",
			zap.String("store", r.StoreKey()), zap.String("journal", j.Path()),
			zap.Int("journal_depth", j.JournalDepth()), zap.Error(pingErr))
	}
	redisSettings.Store(r.StoreKey(), r.settingsFingerprint())
	return j, nil
}

// redisSettings remembers, per open store key, a hash of the connection
// settings that the key leaves out, to warn when a reload changes them.
var redisSettings sync.Map

func (r *RedisStore) settingsFingerprint() string {
	tlsJSON, _ := json.Marshal(r.TLS) // "null" without TLS
	sum := sha256.Sum256([]byte(r.username + "\x00" + r.password + "\x00" + string(tlsJSON)))
	return hex.EncodeToString(sum[:])
}

// config makes the client's TLS configuration: nil without TLS.
func (t *RedisTLS) config(ctx caddy.Context) (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	// Without ServerName, crypto/tls verifies the host of each address.
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CARaw != nil {
		mod, err := ctx.LoadModule(t, "CARaw")
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		ca, ok := mod.(caddytls.CA)
		if !ok {
			return nil, fmt.Errorf("ca: module %T is not a CA pool", mod)
		}
		cfg.RootCAs = ca.CertPool()
	}
	return cfg, nil
}

// UnmarshalCaddyfile reads
//
//	redis {
//	    address     <host:port>...
//	    master_name <name>
//	    username    <user>
//	    password    <password>
//	    db          <n>
//	    tls [{
//	        ca          <pem file>...
//	        trust_pool  <module> ...
//	        server_name <name>
//	    }]
//	    key_prefix  <prefix>
//	    view_limit  <n>
//	}
//
// after the store keyword.
func (r *RedisStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the backend name
	if d.NextArg() {
		return d.Errf("store redis: takes its options in a block, not arguments (got %q)", d.Val())
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch option := d.Val(); option {
		case "address":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("address: expected at least one host:port")
			}
			for _, a := range args {
				if err := checkAddress(a); err != nil {
					return d.Errf("address: %v", err)
				}
			}
			r.Addresses = append(r.Addresses, args...)
		case "master_name":
			if err := oneArg(d, &r.MasterName, nil); err != nil {
				return err
			}
		case "username":
			if err := oneArg(d, &r.Username, nil); err != nil {
				return err
			}
		case "password":
			if err := oneArg(d, &r.Password, nil); err != nil {
				return err
			}
		case "db":
			var s string
			if err := oneArg(d, &s, nil); err != nil {
				return err
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return d.Errf("db: expected a database number, 0 or more (got %q)", s)
			}
			r.DB = n
		case "tls":
			if d.NextArg() {
				return d.Errf("tls: takes its options in a block, not arguments (got %q)", d.Val())
			}
			r.TLS = &RedisTLS{}
			if err := r.TLS.unmarshalCaddyfile(d); err != nil {
				return err
			}
		case "key_prefix":
			if err := oneArg(d, &r.KeyPrefix, nil); err != nil {
				return err
			}
			if err := checkKeyPrefix(r.KeyPrefix); err != nil {
				return d.Errf("key_prefix: %v", err)
			}
		case "view_limit":
			n, err := viewLimitArg(d)
			if err != nil {
				return err
			}
			r.ViewLimit = n
		default:
			return d.Errf("unrecognized redis option %q", option)
		}
	}
	if r.DB != 0 && r.MasterName == "" && len(r.Addresses) > 1 {
		return d.Errf("db: must be 0 with several addresses (Redis Cluster has one database); for Sentinel set master_name")
	}
	return nil
}

// unmarshalCaddyfile reads the tls block:
//
//	tls {
//	    ca          <pem file>...
//	    trust_pool  <module> [<args>...] [{ ... }]
//	    server_name <name>
//	}
func (t *RedisTLS) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch option := d.Val(); option {
		case "ca", "trust_pool":
			if t.CARaw != nil {
				return d.Errf("tls %s: the CAs are already set (use one of ca or trust_pool, once)", option)
			}
			var ca caddytls.CA
			stem := "file"
			if option == "ca" {
				files := d.RemainingArgs()
				if len(files) == 0 {
					return d.Errf("tls ca: expected at least one PEM file")
				}
				ca = &caddytls.FileCAPool{TrustedCACertPEMFiles: files}
			} else {
				if !d.NextArg() {
					return d.Errf("tls trust_pool: expected a CA pool module (file, inline, pki_root, storage, http, ...)")
				}
				stem = d.Val()
				mod, err := caddyfile.UnmarshalModule(d, "tls.ca_pool.source."+stem)
				if err != nil {
					return err
				}
				var ok bool
				if ca, ok = mod.(caddytls.CA); !ok {
					return d.Errf("tls trust_pool: module %s is not a CA pool", stem)
				}
			}
			t.CARaw = caddyconfig.JSONModuleObject(ca, "provider", stem, nil)
		case "server_name":
			if err := oneArg(d, &t.ServerName, nil); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized redis tls option %q", option)
		}
	}
	return nil
}

// checkAddress accepts host:port with a numeric port; the host may be a
// placeholder-free name or IP.
func checkAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not host:port", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has no valid port", a)
	}
	return nil
}

// maxViewLimit keeps a typo from promising memory no node has (about 4 GB).
const maxViewLimit = 100_000_000

func checkViewLimit(n int) error {
	if n < 0 || n > maxViewLimit {
		return fmt.Errorf("view_limit: expected a number of revocations from 1 to %d (got %d)", maxViewLimit, n)
	}
	return nil
}

// viewLimitArg reads view_limit's value (the redis and bolt stores').
func viewLimitArg(d *caddyfile.Dispenser) (int, error) {
	var v string
	if err := oneArg(d, &v, nil); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n == 0 {
		return 0, d.Errf("view_limit: expected a number of revocations (got %q)", v)
	}
	if err := checkViewLimit(n); err != nil {
		return 0, d.Errf("%v", err)
	}
	return n, nil
}

func checkKeyPrefix(p string) error {
	if strings.IndexFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return errors.New("must not contain spaces or control characters")
	}
	return nil
}

// routeClientLogs sends go-redis's own log lines (one per failed dial
// while Redis is down) to Caddy's logging at debug level, instead of plain
// lines on stderr; the store logs the state changes that matter (degraded,
// subscription lost, recovered) as structured warnings. go-redis has one
// process-wide logger, set here once; each line goes to the logger of the
// config running when it is written, so it follows reloads.
func routeClientLogs() {
	clientLogOnce.Do(func() { goredis.SetLogger(clientLogger{}) })
}

var clientLogOnce sync.Once

type clientLogger struct{}

func (clientLogger) Printf(_ context.Context, format string, v ...any) {
	log := runningClientLogger()
	if log == nil {
		return // no config running (yet, or any more)
	}
	if ce := log.Check(zap.DebugLevel, "go-redis"); ce != nil {
		ce.Write(zap.String("message", fmt.Sprintf(format, v...)))
	}
}

// clientLog is the go-redis logger of the running config, made again when
// another config starts running.
var clientLog struct {
	mu     sync.Mutex
	config context.Context // the running config's context, when log was made
	log    *zap.Logger
}

func runningClientLogger() *zap.Logger {
	ctx := caddy.ActiveContext()
	if ctx.Context == nil {
		return nil
	}
	clientLog.mu.Lock()
	defer clientLog.mu.Unlock()
	if clientLog.config != ctx.Context {
		clientLog.config, clientLog.log = ctx.Context, ctx.Logger(RedisStore{}).Named("client")
	}
	return clientLog.log
}

// Interface guards
var (
	_ StoreModule           = (*RedisStore)(nil)
	_ caddy.Provisioner     = (*RedisStore)(nil)
	_ caddyfile.Unmarshaler = (*RedisStore)(nil)
)
