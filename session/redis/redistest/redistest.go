// Package redistest runs a real redis-server for tests: on a free loopback
// port, in a temporary directory, killed when the test ends. There is no
// fake: a test that needs Redis and cannot find redis-server fails, with a
// message saying how to install it (scripts/test-setup.sh).
package redistest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
)

var quietOnce sync.Once

// Options configure Start.
type Options struct {
	// Password is set as requirepass; empty means none.
	Password string
	// AOF turns on the append-only file with appendfsync always, so every
	// write Redis acknowledged survives a kill -9 and a restart (what an
	// operator who wants durable revocations configures). Without it the
	// server persists nothing (--save "").
	AOF bool
	// ClusterNode starts the server with cluster mode enabled (see
	// StartCluster, which also joins the nodes).
	ClusterNode bool
	// Sentinel, when set, starts a Sentinel (not a data node) that
	// monitors this master under SentinelMaster.
	Sentinel       *Server
	SentinelMaster string
	// Args are more redis-server options, such as "--maxmemory", "1"; they
	// apply to every start of the server, Restart's too.
	Args []string
	// TLS serves TLS only (no plain port), with a certificate for
	// 127.0.0.1 from a CA made for this server: see CAFile and ClientTLS.
	TLS bool
}

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	opts Options
	// Addr is 127.0.0.1:<port>.
	Addr string
	// Dir is the server's working directory (its AOF lives here).
	Dir string
	// CAFile is the PEM file of the CA that signed the server's
	// certificate, with Options.TLS.
	CAFile string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *testutil.SyncBuffer
}

// Start runs redis-server and waits until it answers PING. It is killed
// when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	// go-redis logs every failed dial to stderr; tests that stop Redis on
	// purpose would drown in them. (This is process-wide, fine in a test
	// binary.)
	quietOnce.Do(func() { goredis.SetLogger(&logging.VoidLogger{}) })
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed (%v): run scripts/test-setup.sh, which installs it", err)
	}
	s := &Server{t: t, opts: opts, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t))), Dir: t.TempDir()}
	if opts.TLS {
		s.writeCertificates()
	}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// Port is the server's TCP port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

func (s *Server) start() {
	t := s.t
	t.Helper()
	args := []string{
		"--port", strconv.Itoa(s.Port()),
		"--bind", "127.0.0.1",
		"--dir", s.Dir,
		"--save", "",
		"--daemonize", "no",
		"--protected-mode", "no",
		"--loglevel", "warning",
		"--logfile", "",
	}
	if s.opts.AOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	args = append(args, s.opts.Args...)
	if s.opts.TLS {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(s.Port()),
			"--tls-cert-file", filepath.Join(s.Dir, "server.pem"), "--tls-key-file", filepath.Join(s.Dir, "server-key.pem"),
			"--tls-auth-clients", "no")
	}
	if s.opts.ClusterNode {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
	}
	if m := s.opts.Sentinel; m != nil {
		// A Sentinel reads (and rewrites) a config file of its own.
		conf := filepath.Join(s.Dir, "sentinel.conf")
		_, mport, _ := net.SplitHostPort(m.Addr)
		body := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %s 1\nsentinel down-after-milliseconds %s 5000\n",
			s.opts.SentinelMaster, mport, s.opts.SentinelMaster)
		if m.opts.Password != "" {
			body += fmt.Sprintf("sentinel auth-pass %s %s\n", s.opts.SentinelMaster, m.opts.Password)
		}
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{conf, "--sentinel"}, args...)
	}
	cmd := exec.Command("redis-server", args...)
	logs := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	s.mu.Lock()
	s.cmd, s.exited, s.logs = cmd, exited, logs
	s.mu.Unlock()

	pass := s.opts.Password
	if s.opts.Sentinel != nil {
		pass = "" // the Sentinel itself asks for none
	}
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr, Password: pass, MaxRetries: -1, DialerRetries: 1, TLSConfig: s.ClientTLS()})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("redis-server exited during start: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server at %s not ready after 10s: %v\n%s", s.Addr, err, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL: no shutdown save, no goodbye to
// clients, as in a crash. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart kills the server (if running) and starts it again on the same
// port. With keepData it reopens its directory (the AOF, if Options.AOF);
// without, it starts empty, as a Redis without persistence does.
func (s *Server) Restart(keepData bool) {
	s.t.Helper()
	s.Kill()
	if !keepData {
		entries, err := os.ReadDir(s.Dir)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(s.Dir, e.Name())); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	s.start()
}

// StartCluster starts n cluster-enabled servers and joins them into one
// Redis Cluster (all masters, slots spread over them) with redis-cli, and
// waits until every node reports cluster_state:ok.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatalf("redis-cli is not installed (%v): run scripts/test-setup.sh, which installs redis", err)
	}
	nodes := make([]*Server, n)
	args := []string{"--cluster", "create"}
	for i := range nodes {
		nodes[i] = Start(t, Options{ClusterNode: true})
		args = append(args, nodes[i].Addr)
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, node := range nodes {
		c := goredis.NewClient(&goredis.Options{Addr: node.Addr})
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				t.Fatalf("cluster node %s not ok after 20s: %v\n%s", node.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
	}
	return nodes
}

// Replicated is a master, its replica and a Sentinel that monitors the
// master, for failover tests.
type Replicated struct {
	Master, Replica, Sentinel *Server
	Name                      string // the master's name at the Sentinel
}

// StartReplicated starts a master and its replica, waits until the replica
// is in sync, and starts a Sentinel monitoring the master as name.
func StartReplicated(t testing.TB, name string) *Replicated {
	t.Helper()
	master := Start(t, Options{})
	replica := Start(t, Options{Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port())}})
	rc := replica.Client(t)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := rc.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica not in sync after 10s: %v\n%s", err, info)
		}
	}
	return &Replicated{Master: master, Replica: replica, Sentinel: Start(t, Options{Sentinel: master, SentinelMaster: name}), Name: name}
}

// Failover asks the Sentinel to promote the replica (SENTINEL FAILOVER),
// retrying while the Sentinel has not yet found the replica fit
// (NOGOODSLAVE, for a moment after it starts). It returns once the
// Sentinel took the request, not once the replica is master: see Promoted.
func (r *Replicated) Failover(t testing.TB) {
	t.Helper()
	sc := r.Sentinel.Client(t)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := sc.Do(context.Background(), "SENTINEL", "FAILOVER", r.Name).Err()
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "NOGOODSLAVE") || time.Now().After(deadline) {
			t.Fatalf("SENTINEL FAILOVER: %v", err)
		}
	}
}

// Promoted reports whether the Sentinel names the replica as the master.
func (r *Replicated) Promoted(t testing.TB) bool {
	t.Helper()
	addr, err := r.Sentinel.Client(t).Do(context.Background(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", r.Name).StringSlice()
	return err == nil && len(addr) == 2 && addr[1] == strconv.Itoa(r.Replica.Port())
}

// Client returns a go-redis client for the server, closed when the test
// ends.
func (s *Server) Client(t testing.TB) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr, Password: s.opts.Password, TLSConfig: s.ClientTLS()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ErrorReplies is how many errors of a kind ("WRONGTYPE", "OOM") the
// server has answered with so far (INFO errorstats): each is one command it
// refused.
func (s *Server) ErrorReplies(t testing.TB, kind string) int {
	t.Helper()
	c := s.Client(t)
	info, err := c.Info(context.Background(), "errorstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "errorstat_"+kind+":count="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// Commands is how many commands of each kind the server has run so far
// (INFO commandstats: "get", "xread", "evalsha", ...).
func (s *Server) Commands(t testing.TB) map[string]int {
	t.Helper()
	info, err := s.Client(t).Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for line := range strings.Lines(info) {
		// cmdstat_get:calls=12,usec=34,...
		name, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		out[name], _ = strconv.Atoi(calls)
	}
	return out
}

// KillClients closes the connections of the clients with the given name
// (CLIENT SETNAME; the redis store names its log reader
// "caddy-logout-log") and returns how many it closed.
func (s *Server) KillClients(t testing.TB, name string) int {
	t.Helper()
	c := s.Client(t)
	ctx := context.Background()
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for line := range strings.Lines(list) {
		var id string
		named := false
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "id="); ok {
				id = v
			}
			named = named || field == "name="+name
		}
		if named && id != "" {
			if err := c.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err == nil {
				killed++
			}
		}
	}
	return killed
}

// Pause stops the server (SIGSTOP): it keeps its connections and answers
// nothing until Resume, as a server stalled by a long command or a
// frozen VM.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume lets a paused server go on (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// ClientTLS is the TLS configuration a client needs to trust the server
// (nil without Options.TLS).
func (s *Server) ClientTLS() *tls.Config {
	if !s.opts.TLS {
		return nil
	}
	caPEM, err := os.ReadFile(s.CAFile)
	if err != nil {
		s.t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// writeCertificates makes a CA and a certificate for 127.0.0.1 signed by
// it, valid for a day, and writes them to the server's directory.
func (s *Server) writeCertificates() {
	t := s.t
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	s.CAFile = filepath.Join(s.Dir, "ca.pem")
	for name, block := range map[string]*pem.Block{
		"ca.pem":         {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem":     {Type: "CERTIFICATE", Bytes: der},
		"server-key.pem": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(s.Dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// Logs is what the server printed so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		return ""
	}
	return s.logs.String()
}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("redis-server at %s", s.Addr) }
