package exporter

import (
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/shaperdev/shaper/history"
)

// The page on / is three embedded files and three JSON endpoints the
// script polls: no CDN, no external font, nothing fetched from elsewhere,
// so it works on a host without internet and leaks no visit.
//
//go:embed web
var webFS embed.FS

var pageTmpl = template.Must(template.ParseFS(webFS, "web/index.html"))

// HistoryReader is what the page's chart needs of the history store;
// *history.Store has it.
type HistoryReader interface {
	Query(q history.Query) ([]history.Series, error)
	Resolution(from, to time.Time) time.Duration
	Span() (first, last time.Time, ok bool)
}

// page serves / and its JSON endpoints.
type page struct {
	o     Options
	host  string
	rates *rateTracker
	now   func() time.Time
}

// registerPage serves the page, its assets and its JSON endpoints on m.
func registerPage(m *http.ServeMux, o Options, sources []Source) {
	host, _ := os.Hostname()
	p := &page{o: o, host: host, rates: newRateTracker(sources), now: time.Now}
	m.HandleFunc("/", p.index)
	assets, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(assets)
	m.Handle("/assets/", http.StripPrefix("/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w, "")
		files.ServeHTTP(w, r)
	})))
	m.HandleFunc("/api/rates", p.serveRates)
	m.HandleFunc("/api/history", p.serveHistory)
	m.HandleFunc("/api/quotas", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, o.Log, http.StatusOK, quotasFor(o.Quotas))
	})
}

func (p *page) index(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	pageHeaders(w, "text/html; charset=utf-8")
	if err := pageTmpl.Execute(w, struct{ Host, Version, Netns string }{p.host, p.o.Version, p.o.Netns}); err != nil {
		p.o.Log.Error("render page", "err", err)
	}
}

func (p *page) serveRates(w http.ResponseWriter, r *http.Request) {
	res := p.rates.rates(r.Context())
	res.Host, res.Version, res.Netns = p.host, p.o.Version, p.o.Netns
	writeJSON(w, p.o.Log, http.StatusOK, res)
}

// history is the store the chart reads, or nil (an interface holding a
// nil *history.Store would not be).
func (p *page) history() HistoryReader {
	if p.o.History == nil || p.o.History.Store == nil {
		return nil
	}
	return p.o.History.Store
}

func (p *page) serveHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	res, err := historyFor(p.history(), q.Get("since"), q.Get("direction"), p.now())
	if err != nil {
		writeJSON(w, p.o.Log, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, p.o.Log, http.StatusOK, res)
}

// pageHeaders keep the page to itself: it loads only its own assets (a
// Content-Security-Policy the browser enforces) and is always fresh.
func pageHeaders(w http.ResponseWriter, contentType string) {
	h := w.Header()
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Debug("write json", "err", err)
	}
}

// quotasFor asks the quota source, if any: the page reads the fields of
// QuotaUse (app, direction, per, used_bytes, limit_bytes, resets,
// exhausted, then). Without quotas the list is empty.
func quotasFor(q func() any) any {
	var list any = []struct{}{}
	if q != nil {
		if v := q(); v != nil {
			list = v
		}
	}
	return struct {
		Quotas any `json:"quotas"`
	}{list}
}
