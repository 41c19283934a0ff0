package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// go-redis has one logger for the whole process. Its lines (a failed dial
// while Redis is down) go to the logging of the config that is running
// when they are written: a reload that sends the store's client logger to
// a file of its own, at debug level, gets them there. Before, the first
// config's logger kept them for good.
func TestCluster_ClientLogs_FollowReload(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	app := e2e.StartUpstream(t)
	admin, port := e2e.FreePort(t), e2e.FreePort(t)
	logFile := filepath.Join(t.TempDir(), "redis-client.log")
	config := func(logging string) string {
		return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	%s
}

http://127.0.0.1:%d {
	logout {
		%s
	}
	reverse_proxy 127.0.0.1:%d
}
`, admin, logging, port, nodeConfig(redisBlock(srv.Addr)), app.Port)
	}
	node := e2e.RunCaddy(t, "", config(""), admin, port)
	err := node.Reload(config(`log redisclient {
		output file ` + logFile + `
		level DEBUG
		include logout.stores.redis.client
	}`))
	if err != nil {
		t.Fatal(err)
	}

	srv.Kill() // the client's dials fail from now on, and go-redis says so
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		_, _ = guardStatus(node, fmt.Sprint("never seen ", i)) // a lookup that dials
		b, _ := os.ReadFile(logFile)
		if strings.Contains(string(b), "failed to dial") {
			if !strings.Contains(string(b), `"logger":"logout.stores.redis.client"`) {
				t.Errorf("the go-redis lines do not name their logger:\n%s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no go-redis line in the reloaded config's log within 15s; it has:\n%s\nCaddy's own log:\n%s", b, node.Logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
