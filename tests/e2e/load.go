package e2e

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Load keeps workers sending GETs while a test does something else to
// Caddy (reloads, restarts), judging every answer.
type Load struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	requests atomic.Int64
	resets   atomic.Int64
	failures atomic.Int64
	first    atomic.Value // string: the first failure
}

// StartLoad starts workers that loop until Stop: worker w's i-th request
// is a GET of url with header(w, i), and check says what is wrong with its
// answer ("" when nothing). A request whose connection fails is retried
// once on a new one, as browsers retry an idempotent GET: Caddy swaps its
// HTTP servers on a reload, and a keep-alive connection the old one closes
// at that instant can be reset under a request (Caddy's doing, not this
// module's). Only a failure after that counts.
func StartLoad(workers int, url string, header func(w, i int) http.Header, check func(w, i int, resp *http.Response, body []byte) string) *Load {
	l := &Load{stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := &http.Client{Timeout: 20 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				get := func() (*http.Response, error) {
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					req.Header = header(w, i)
					return c.Do(req)
				}
				resp, err := get()
				l.requests.Add(1)
				if err != nil {
					l.resets.Add(1)
					resp, err = get()
				}
				if err != nil {
					l.fail(fmt.Sprintf("request failed, also when retried: %v", err))
					continue
				}
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				if problem := check(w, i, resp, body); problem != "" {
					l.fail(problem)
				}
			}
		}()
	}
	return l
}

func (l *Load) fail(problem string) {
	if l.failures.Add(1) == 1 {
		l.first.Store(problem)
	}
}

// Stop ends the load once every worker's request in flight is answered.
func (l *Load) Stop() {
	close(l.stop)
	l.wg.Wait()
}

// Failures is how many answers check found wrong (or requests that failed
// twice), and the first of them.
func (l *Load) Failures() (int64, string) {
	first, _ := l.first.Load().(string)
	return l.failures.Load(), first
}

// String says how many requests were sent and how many were retried.
func (l *Load) String() string {
	return fmt.Sprintf("%d requests (%d connection resets retried once)", l.requests.Load(), l.resets.Load())
}
