package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
)

// TestCaddyfile_RedisErrors: the redis block's mistakes fail at adapt time,
// naming the option and the line.
func TestCaddyfile_RedisErrors(t *testing.T) {
	cases := []struct{ name, block, want string }{
		{"arguments instead of a block", "store redis 127.0.0.1:6379", "store redis: takes its options in a block"},
		{"unknown option", "store redis {\n\t\t\thost 127.0.0.1\n\t\t}", `unrecognized redis option "host"`},
		{"address without value", "store redis {\n\t\t\taddress\n\t\t}", "address: expected at least one host:port"},
		{"address without port", "store redis {\n\t\t\taddress redis.internal\n\t\t}", `address: "redis.internal" is not host:port`},
		{"address with bad port", "store redis {\n\t\t\taddress redis.internal:http\n\t\t}", `address: "redis.internal:http" has no valid port`},
		{"db not a number", "store redis {\n\t\t\tdb one\n\t\t}", `db: expected a database number, 0 or more (got "one")`},
		{"db negative", "store redis {\n\t\t\tdb -1\n\t\t}", `db: expected a database number, 0 or more (got "-1")`},
		{"db with cluster", "store redis {\n\t\t\taddress a:1 b:2\n\t\t\tdb 2\n\t\t}", "db: must be 0 with several addresses"},
		{"password two values", "store redis {\n\t\t\tpassword a b\n\t\t}", "password: expected one value, got more"},
		{"username missing", "store redis {\n\t\t\tusername\n\t\t}", "username: expected one value"},
		{"tls with value", "store redis {\n\t\t\ttls yes\n\t\t}", `tls: takes its options in a block, not arguments (got "yes")`},
		{"tls ca without file", "store redis {\n\t\t\ttls {\n\t\t\t\tca\n\t\t\t}\n\t\t}", "tls ca: expected at least one PEM file"},
		{"tls ca and trust_pool", "store redis {\n\t\t\ttls {\n\t\t\t\tca /a.pem\n\t\t\t\ttrust_pool file /b.pem\n\t\t\t}\n\t\t}",
			"tls trust_pool: the CAs are already set"},
		{"tls trust_pool without module", "store redis {\n\t\t\ttls {\n\t\t\t\ttrust_pool\n\t\t\t}\n\t\t}", "tls trust_pool: expected a CA pool module"},
		{"tls trust_pool unknown module", "store redis {\n\t\t\ttls {\n\t\t\t\ttrust_pool nosuch\n\t\t\t}\n\t\t}", "tls.ca_pool.source.nosuch"},
		{"tls server_name missing", "store redis {\n\t\t\ttls {\n\t\t\t\tserver_name\n\t\t\t}\n\t\t}", "server_name: expected one value"},
		{"tls unknown option", "store redis {\n\t\t\ttls {\n\t\t\t\tinsecure\n\t\t\t}\n\t\t}", `unrecognized redis tls option "insecure"`},
		{"key_prefix with space", "store redis {\n\t\t\tkey_prefix \"a b\"\n\t\t}", "key_prefix: must not contain spaces"},
		{"master_name missing", "store redis {\n\t\t\tmaster_name\n\t\t}", "master_name: expected one value"},
		{"view_limit not a number", "store redis {\n\t\t\tview_limit many\n\t\t}", `view_limit: expected a number of revocations (got "many")`},
		{"view_limit zero", "store redis {\n\t\t\tview_limit 0\n\t\t}", `view_limit: expected a number of revocations (got "0")`},
		{"view_limit too big", "store redis {\n\t\t\tview_limit 1000000000\n\t\t}", "view_limit: expected a number of revocations from 1 to 100000000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { assertAdaptError(t, c.block, c.want) })
	}
}

func TestCaddyfile_RedisDefaults_AdaptToBareBackend(t *testing.T) {
	out, err := adapt(":8080 {\n\tlogout {\n\t\tstore redis\n\t}\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"store":{"backend":"redis"}`) {
		t.Fatalf("store redis without a block adapted to %s", out)
	}
}

func TestRedisStore_StoreKey_IdentifiesDataSetNotSecret(t *testing.T) {
	a := &RedisStore{Addresses: []string{"b:6379", "a:6379"}, Password: "hunter2", KeyPrefix: "x:"}
	b := &RedisStore{Addresses: []string{"a:6379", "b:6379"}, Password: "other", KeyPrefix: "x:"}
	if a.StoreKey() != b.StoreKey() {
		t.Errorf("same servers and prefix, different keys: %q vs %q", a.StoreKey(), b.StoreKey())
	}
	if strings.Contains(a.StoreKey(), "hunter2") {
		t.Errorf("StoreKey %q contains the password", a.StoreKey())
	}
	for _, other := range []*RedisStore{
		{Addresses: []string{"a:6379", "b:6379"}, KeyPrefix: "y:"},
		{Addresses: []string{"a:6379"}, KeyPrefix: "x:"},
		{Addresses: []string{"a:6379", "b:6379"}, KeyPrefix: "x:", MasterName: "m"},
		{Addresses: []string{"a:6379", "b:6379"}, KeyPrefix: "x:", DB: 1},
	} {
		if other.StoreKey() == a.StoreKey() {
			t.Errorf("%+v has the same StoreKey as %+v: %q", other, a, a.StoreKey())
		}
	}
	if got := (&RedisStore{}).StoreKey(); got != "redis:127.0.0.1:6379/0/logout:" {
		t.Errorf("default StoreKey = %q", got)
	}
	if a.journalPath() == (&RedisStore{Addresses: []string{"a:6379", "b:6379"}, KeyPrefix: "y:"}).journalPath() {
		t.Error("two data sets share a journal file")
	}
}

func TestRedisStore_JSON_FieldNames(t *testing.T) {
	var r RedisStore
	raw := `{"addresses":["h:1"],"master_name":"m","username":"u","password":"p","db":2,` +
		`"tls":{"ca":{"provider":"file","pem_files":["/ca.pem"]},"server_name":"redis.internal"},"key_prefix":"k:","view_limit":5}`
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	want := RedisStore{Addresses: []string{"h:1"}, MasterName: "m", Username: "u", Password: "p", DB: 2, KeyPrefix: "k:"}
	if r.StoreKey() != want.StoreKey() || r.Username != "u" || r.Password != "p" || r.TLS == nil ||
		r.TLS.ServerName != "redis.internal" || !strings.Contains(string(r.TLS.CARaw), "/ca.pem") || r.ViewLimit != 5 {
		t.Fatalf("JSON decoded to %+v", r)
	}
}

// TestLoad_Redis runs the module's Provision and OpenStore against a real
// redis-server (started here; see redistest): the errors an operator meets
// at start, and a good config.
func TestLoad_Redis(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	srv := redistest.Start(t, redistest.Options{Password: "right-password"})
	down := redistest.Start(t, redistest.Options{})
	down.Kill()
	t.Setenv("LOGOUT_TEST_REDIS_PASSWORD", "right-password")
	t.Setenv("LOGOUT_TEST_WRONG_PASSWORD", "wrong-password")

	config := func(block string) string {
		return ":8080 {\n\tlogout {\n\t\tsigning_key " + strings.Repeat("k", 32) + "\n\t\tstore redis {\n\t\t\t" + block + "\n\t\t}\n\t}\n}\n"
	}
	t.Run("password from env", func(t *testing.T) {
		if err := validate(t, config("address "+srv.Addr+"\n\t\t\tpassword {env.LOGOUT_TEST_REDIS_PASSWORD}\n\t\t\tkey_prefix load:")); err != nil {
			t.Fatal(err)
		}
	})
	for _, c := range []struct{ name, block, want string }{
		{"wrong password", "address " + srv.Addr + "\n\t\t\tpassword {env.LOGOUT_TEST_WRONG_PASSWORD}",
			"redis store: " + srv.Addr + ": authentication failed (check username and password)"},
		{"no password", "address " + srv.Addr, "authentication failed"},
		{"password placeholder unset", "address " + srv.Addr + "\n\t\t\tpassword {env.LOGOUT_TEST_NO_SUCH_VAR}",
			"redis store: password:"},
		{"nothing listening, never reached", "address " + down.Addr,
			"redis store: cannot reach " + down.Addr},
		{"database out of range", "address " + srv.Addr + "\n\t\t\tpassword {env.LOGOUT_TEST_REDIS_PASSWORD}\n\t\t\tdb 999", "DB index is out of range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := validate(t, config(c.block))
			if err == nil {
				t.Fatal("config loaded without error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			t.Logf("%s", err)
			if strings.Contains(err.Error(), "wrong-password") || strings.Contains(err.Error(), "right-password") {
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
}

// TestLoad_RedisTLS: a real redis-server serving TLS only, its
// certificate signed by a CA made for the test. The CA comes from the
// config (a PEM file, or any of Caddy's CA pool modules), not from the
// process's environment.
func TestLoad_RedisTLS(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	srv := redistest.Start(t, redistest.Options{TLS: true})
	config := func(tls string) string {
		return ":8080 {\n\tlogout {\n\t\tsigning_key " + strings.Repeat("k", 32) + "\n\t\tstore redis {\n\t\t\taddress " +
			srv.Addr + "\n\t\t\t" + tls + "\n\t\t}\n\t}\n}\n"
	}
	for _, c := range []struct{ name, tls, want string }{
		{"ca file", "tls {\n\t\t\t\tca " + srv.CAFile + "\n\t\t\t}", ""},
		{"trust_pool file", "tls {\n\t\t\t\ttrust_pool file " + srv.CAFile + "\n\t\t\t}", ""},
		{"system roots only", "tls", "certificate signed by unknown authority"},
		{"another server name", "tls {\n\t\t\t\tca " + srv.CAFile + "\n\t\t\t\tserver_name redis.example.com\n\t\t\t}", "redis.example.com"},
		{"missing ca file", "tls {\n\t\t\t\tca " + srv.Dir + "/nosuch.pem\n\t\t\t}", "nosuch.pem"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := validate(t, config(c.tls))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("config did not load: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error = %v; want one saying %q", err, c.want)
			case err != nil:
				t.Logf("%v", err)
			}
		})
	}
}

// view_limit on both stores that keep a view, in the Caddyfile and JSON.
func TestCaddyfile_ViewLimit(t *testing.T) {
	for store, want := range map[string]string{
		"store bolt /var/lib/caddy/logout.db {\n\t\t\tview_limit 500000\n\t\t}": `"store":{"backend":"bolt","path":"/var/lib/caddy/logout.db","view_limit":500000}`,
		"store bolt {\n\t\t\tview_limit 7\n\t\t}":                               `"store":{"backend":"bolt","view_limit":7}`,
		"store redis {\n\t\t\tview_limit 2000000\n\t\t}":                        `"store":{"backend":"redis","view_limit":2000000}`,
	} {
		out, err := adapt(":8080 {\n\tlogout {\n\t\t" + store + "\n\t}\n}\n")
		if err != nil {
			t.Fatalf("%s: %v", store, err)
		}
		if !strings.Contains(string(out), want) {
			t.Errorf("%s adapted to %s; want %s", store, out, want)
		}
	}
	assertAdaptError(t, "store bolt {\n\t\t\tview_limit -3\n\t\t}", `view_limit: expected a number of revocations from 1 to 100000000 (got -3)`)
	assertAdaptError(t, "store bolt {\n\t\t\tcompress\n\t\t}", `unrecognized bolt option "compress"`)
	assertAdaptError(t, "store bolt a.db b.db", `store bolt takes at most a file path (got "b.db" too)`)
}
