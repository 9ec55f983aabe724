package exporter

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BenchmarkScrapeEncode is a scrape's cost above reading the kernel: const
// metrics of 256 classes and 2,048 app series made, gathered, encoded and
// gzipped, as make bench's TestBenchServe serves them.
func BenchmarkScrapeEncode(b *testing.B) {
	r := &Reading{}
	for i := range 256 {
		r.Classes = append(r.Classes, ClassSample{Where: Where{"lab", "eth0", "egress"}, Class: fmt.Sprintf("c%d", i), Bytes: 1 << 40})
	}
	for _, dir := range []string{"egress", "ingress"} {
		for i := range 1024 {
			r.Apps = append(r.Apps, AppSample{Where: Where{"lab", "eth0", dir}, App: fmt.Sprintf("app-%d", i), Bytes: 1 << 40})
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector("bench", nil, SourceFunc(func() (*Reading, error) { return r, nil })))
	handlers := map[string]http.Handler{"promhttp": promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), "serve": metricsHandler(reg, slog.New(slog.DiscardHandler))}
	for _, name := range []string{"promhttp-gzip", "serve-gzip", "serve-identity"} {
		h := handlers[strings.Split(name, "-")[0]]
		enc := strings.Split(name, "-")[1]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", "/metrics", nil)
				req.Header.Set("Accept-Encoding", enc)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				_, _ = io.Copy(io.Discard, w.Body)
			}
		})
	}
}
