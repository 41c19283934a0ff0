package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
)

// chromiumPath is Debian's Chromium, which scripts/test-setup.sh installs.
const chromiumPath = "/usr/bin/chromium"

// Bounds of the browser's work: starting it, and each action.
const (
	browserStartTimeout = 45 * time.Second
	browserStepTimeout  = 20 * time.Second
)

// NewBrowser starts a headless Chromium for one test, with a fresh profile,
// and returns its context. Each tab made from it with NewTab has a cookie
// jar and storage of its own. The browser goes when the test ends.
func NewBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is missing (%v): run scripts/test-setup.sh to install Debian's chromium package", err)
	}
	output := &testutil.SyncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Every name under example.test is this machine, and so is
		// evil.example: a browser sent there would reach nothing real.
		chromedp.Flag("host-resolver-rules", "MAP *.example.test 127.0.0.1, MAP evil.example 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 640),
		chromedp.CombinedOutput(output),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Do starts the browser and binds it to ctx, so it cannot
	// carry a deadline of its own: a timer ends it instead.
	stuck := time.AfterFunc(browserStartTimeout, cancel)
	err := chromedp.Do(ctx)
	if !stuck.Stop() {
		t.Fatalf("Chromium did not start within %s:\n%s", browserStartTimeout, output.String())
	}
	if err != nil {
		t.Fatalf("starting Chromium: %v\n%s", err, output.String())
	}
	return ctx
}

// Tab is one browser tab in a browser context of its own (its own cookie
// jar and storage), with every action bounded by browserStepTimeout.
type Tab struct {
	T   *testing.T
	Ctx context.Context
}

func NewTab(t *testing.T, browser context.Context) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	stuck := time.AfterFunc(browserStartTimeout, cancel)
	err := chromedp.Do(ctx)
	if !stuck.Stop() {
		t.Fatalf("no new tab within %s", browserStartTimeout)
	}
	if err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return &Tab{T: t, Ctx: ctx}
}

// Step runs actions under the step timeout.
func (b *Tab) Step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.T.Fatalf("browser: %s: %v", what, err)
	}
}

func (b *Tab) Navigate(url string) {
	b.T.Helper()
	b.Step("navigate to "+url, chromedp.Navigate(url))
}

func (b *Tab) Click(sel string) {
	b.T.Helper()
	b.Step("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// Back presses the browser's Back button and waits for the previous entry
// to show. (chromedp.NavigateBack waits for a load event, which a page
// restored from the back/forward cache never fires.)
func (b *Tab) Back() PageState {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, browserStepTimeout)
	defer cancel()
	hist, err := chromedp.Run(ctx, chromedp.NavigationEntries())
	if err != nil || hist.CurrentIndex < 1 {
		b.T.Fatalf("browser: no history to go back in: %+v (%v)", hist, err)
	}
	prev := hist.Entries[hist.CurrentIndex-1]
	if _, err := chromedp.Call(ctx, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: prev.ID}); err != nil {
		b.T.Fatalf("browser: Back: %v", err)
	}
	return b.WaitPage("the page Back shows ("+prev.URL+")", func(s PageState) bool { return s.Href == prev.URL })
}

// Eval evaluates a JavaScript expression in the page.
func Eval[T any](b *Tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.Ctx, browserStepTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

func (b *Tab) Location() string {
	b.T.Helper()
	loc, err := Eval[string](b, `location.href`)
	if err != nil {
		b.T.Fatalf("browser: location: %v", err)
	}
	return loc
}

// PageState is what a test reads off the page to decide what the app saw.
type PageState struct {
	Href  string `json:"href"`
	Ready string `json:"ready"`
	Title string `json:"title"`
	State string `json:"state"`
}

const readPageState = `({href: location.href, ready: document.readyState, title: document.title,
	state: (document.getElementById("state") || {textContent: ""}).textContent})`

// WaitPage polls the page (navigations in between are expected) until it
// has loaded and ok accepts it; it fails the test after the step timeout
// with what the page last showed.
func (b *Tab) WaitPage(what string, ok func(PageState) bool) PageState {
	b.T.Helper()
	deadline := time.Now().Add(browserStepTimeout)
	var last PageState
	var lastErr error
	for {
		s, err := Eval[PageState](b, readPageState)
		if err == nil {
			last, lastErr = s, nil
			if s.Ready == "complete" && ok(s) {
				return s
			}
		} else {
			lastErr = err // the page is between two documents
		}
		if time.Now().After(deadline) {
			b.T.Fatalf("browser: waiting for %s: the page shows %+v (last error %v)", what, last, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Cookies is the tab's whole cookie jar (every domain and path).
func (b *Tab) Cookies() []*network.Cookie {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, browserStepTimeout)
	defer cancel()
	c := chromedp.FromContext(b.Ctx)
	res, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{BrowserContextID: c.BrowserContextID})
	if err != nil {
		b.T.Fatalf("browser: reading the cookie jar: %v", err)
	}
	return res.Cookies
}

// JarHolds lists the jar's cookies among names, as name;domain;path=value.
func (b *Tab) JarHolds(names ...string) []string {
	b.T.Helper()
	var out []string
	for _, c := range b.Cookies() {
		if slices.Contains(names, c.Name) {
			out = append(out, fmt.Sprintf("%s; Domain=%s; Path=%s = %s", c.Name, c.Domain, c.Path, c.Value))
		}
	}
	sort.Strings(out)
	return out
}

// SetCookie puts a cookie into the tab's jar, as a user replaying a copied
// cookie would.
func (b *Tab) SetCookie(p network.SetCookieParams) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, browserStepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.SetCookie, p); err != nil {
		b.T.Fatalf("browser: setting cookie %s: %v", p.Name, err)
	}
}

// Screenshot saves the page as tests/artifacts/<name>.png and logs where.
func (b *Tab) Screenshot(name string) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, browserStepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.T.Fatalf("browser: screenshot: %v", err)
	}
	dir, err := filepath.Abs("artifacts")
	if err != nil {
		b.T.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.T.Fatal(err)
	}
	file := filepath.Join(dir, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.T.Fatal(err)
	}
	b.T.Logf("screenshot of the logged-out page: %s", file)
}

// WatchRequests records the URL of every request the tab sends from now on.
func (b *Tab) WatchRequests() func() []string {
	b.T.Helper()
	var mu sync.Mutex
	var urls []string
	err := chromedp.Listen(b.Ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			urls = append(urls, ev.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		b.T.Fatalf("browser: listening to requests: %v", err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(urls)
	}
}

// LoopbackClient reaches every *.example.test on this machine, as the
// browser does, trusts any certificate (Caddy's internal CA) and follows no
// redirects.
func LoopbackClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// WaitHTTPS polls until url answers over TLS (Caddy issues its internal
// certificate in the background at start).
func WaitHTTPS(t *testing.T, url string) {
	t.Helper()
	c := LoopbackClient()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS at %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
