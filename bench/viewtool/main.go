// Command viewtool is bench/run.sh view's helper:
//
//	viewtool fill -redis 127.0.0.1:6379 -n 1000000 [-prefix logout:] [-ttl 1h]
//	    writes n revocation records, as the redis store writes them
//	viewtool propagate -revoke http://node1 -check http://node2,http://node3 [-rounds 500]
//	    logs out a session on one node and times until every other node
//	    refuses it (401), round after round; prints p50, p99 and max
//	viewtool status -admin http://127.0.0.1:2019 [-wait-current 60s]
//	    prints the redis store's view status (from /logout/status), after
//	    waiting until it is current
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"slices"

	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: viewtool fill|propagate|status [flags]")
	}
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "fill":
		fill(args)
	case "propagate":
		propagate(args)
	case "status":
		status(args)
	default:
		log.Fatalf("unknown command %q", cmd)
	}
}

func fill(args []string) {
	fs := flag.NewFlagSet("fill", flag.ExitOnError)
	addr := fs.String("redis", "127.0.0.1:6379", "redis-server")
	n := fs.Int("n", 1_000_000, "records to write")
	prefix := fs.String("prefix", "logout:", "key prefix")
	ttl := fs.Duration("ttl", time.Hour, "how long the revocations last")
	_ = fs.Parse(args)
	c := goredis.NewClient(&goredis.Options{Addr: *addr})
	defer c.Close()
	ctx := context.Background()
	until := time.Now().Add(*ttl).UnixMilli()
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	x := binary.LittleEndian.Uint64(seed[:])
	const batch = 10_000
	start := time.Now()
	id := make([]byte, 32)
	for done := 0; done < *n; {
		p := c.Pipeline()
		for i := 0; i < batch && done < *n; i, done = i+1, done+1 {
			for j := 0; j < 32; j += 8 {
				x = x*6364136223846793005 + 1442695040888963407
				binary.LittleEndian.PutUint64(id[j:], x)
			}
			p.Set(ctx, *prefix+"revoked:"+hex.EncodeToString(id), until, *ttl)
		}
		if _, err := p.Exec(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("wrote %d records in %s\n", *n, time.Since(start).Round(time.Millisecond))
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

func get(url, token string) int {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Session-Token", token)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func propagate(args []string) {
	fs := flag.NewFlagSet("propagate", flag.ExitOnError)
	revoke := fs.String("revoke", "", "the node that logs out")
	check := fs.String("check", "", "the other nodes, comma-separated")
	rounds := fs.Int("rounds", 500, "logouts to time")
	_ = fs.Parse(args)
	others := strings.Split(*check, ",")
	var lat []time.Duration
	for i := range *rounds {
		token := fmt.Sprintf("propagation-%d-%d", time.Now().UnixNano(), i)
		for _, o := range others {
			if s := get(o+"/app", token); s != http.StatusOK {
				log.Fatalf("before the logout, %s answered %d", o, s)
			}
		}
		req, _ := http.NewRequest("DELETE", *revoke+"/self-service/logout/api", strings.NewReader(`{"session_token":"`+token+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			log.Fatalf("logout: %v %v", resp, err)
		}
		resp.Body.Close()
		acked := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		last := acked
		for _, o := range others {
			wg.Go(func() {
				for get(o+"/app", token) != http.StatusUnauthorized {
					if time.Since(acked) > 5*time.Second {
						log.Fatalf("%s still lets the session through 5s after its logout", o)
					}
				}
				mu.Lock()
				if now := time.Now(); now.After(last) {
					last = now
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		lat = append(lat, last.Sub(acked))
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("PROPAGATION rounds=%d p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", len(lat),
		ms(pct(0.50)), ms(pct(0.99)), ms(lat[len(lat)-1]))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func status(args []string) {
	fs := flag.NewFlagSet("status", flag.ExitOnError)
	admin := fs.String("admin", "http://127.0.0.1:2019", "Caddy's admin endpoint")
	wait := fs.Duration("wait-current", 0, "wait this long for every redis store's view to be current")
	_ = fs.Parse(args)
	deadline := time.Now().Add(*wait)
	for {
		views, err := views(*admin)
		current := err == nil && len(views) > 0
		for _, v := range views {
			current = current && v["current"] == true
		}
		if current || time.Now().After(deadline) {
			if err != nil {
				log.Fatal(err)
			}
			for store, v := range views {
				b, _ := json.Marshal(v)
				fmt.Printf("VIEW %s %s\n", store, b)
			}
			if !current {
				os.Exit(1)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func views(admin string) (map[string]map[string]any, error) {
	resp, err := client.Get(admin + "/logout/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Stores []struct {
			Store string         `json:"store"`
			View  map[string]any `json:"view"`
		} `json:"stores"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	m := map[string]map[string]any{}
	for _, s := range out.Stores {
		if s.View != nil {
			m[s.Store] = s.View
		}
	}
	return m, nil
}
