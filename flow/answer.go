package flow

import (
	"io"
	"net/http"
	"sync"
)

// What the gateway does to the app's answers on the guard's path, as their
// header goes out: it seals the values they set for sealed cookies
// (seal.go) and learns which session cookies belong together (groups.go).
// Whether answers are watched at all is decided once, at load; without
// sealed cookies or groups the app gets the writer as it came.

// answerWatching is the Gateway's part for watching answers.
type answerWatching struct {
	on   bool      // sealed cookies, or groups learned
	pool sync.Pool // *answerWatcher
}

// serveApp hands a guarded request to the app, watching its answer. sent
// is the request's Cookie header as the browser sent it (the app's may be
// rewritten by then).
func (g *Gateway) serveApp(w http.ResponseWriter, r *http.Request, next Next, sent []string) error {
	if !g.answers.on {
		return next.ServeHTTP(w, r)
	}
	aw, _ := g.answers.pool.Get().(*answerWatcher)
	if aw == nil {
		aw = &answerWatcher{}
	}
	*aw = answerWatcher{ResponseWriter: w, g: g, r: r, sent: sent}
	err := next.ServeHTTP(aw, r)
	*aw = answerWatcher{}
	g.answers.pool.Put(aw)
	return err
}

// watched is next with serveApp's watching around it, for a caller that
// wraps the writer too.
func (g *Gateway) watched(next Next, sent []string) Next {
	if !g.answers.on {
		return next
	}
	return NextFunc(func(w http.ResponseWriter, r *http.Request) error { return g.serveApp(w, r, next, sent) })
}

// answerWatcher does what serveApp promises as the header goes out.
type answerWatcher struct {
	http.ResponseWriter
	g    *Gateway
	r    *http.Request
	sent []string
	seen bool
}

func (aw *answerWatcher) look() {
	if aw.seen {
		return
	}
	aw.seen = true
	h := aw.Header()
	aw.g.sealSetCookies(aw.r.Context(), h, aw.r.URL.Path, aw.sent)
	if aw.g.grp.learn {
		aw.g.learnGroup(aw.r, aw.sent, h)
	}
}

func (aw *answerWatcher) WriteHeader(code int) {
	if code >= 200 {
		aw.look()
	} else {
		// An informational answer goes out with the header as it stands.
		aw.g.sealSetCookies(aw.r.Context(), aw.Header(), aw.r.URL.Path, aw.sent)
	}
	aw.ResponseWriter.WriteHeader(code)
}

func (aw *answerWatcher) Write(b []byte) (int, error) {
	aw.look()
	return aw.ResponseWriter.Write(b)
}

// ReadFrom keeps sendfile for file_server behind the gateway.
func (aw *answerWatcher) ReadFrom(src io.Reader) (int64, error) {
	aw.look()
	if rf, ok := aw.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(aw.ResponseWriter, src)
}

func (aw *answerWatcher) Flush() {
	aw.look()
	_ = http.NewResponseController(aw.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController (Hijack for websockets, deadlines)
// reach the real writer.
func (aw *answerWatcher) Unwrap() http.ResponseWriter { return aw.ResponseWriter }
