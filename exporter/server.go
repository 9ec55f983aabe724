package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// DefaultPort is shaper serve's port: outside 9100-9999, the range of the
// Prometheus wiki's default port allocations (full since 2023), so it
// collides with no exporter on that list; not in /etc/services; below the
// ephemeral range.
const DefaultPort = 19610

// DefaultListen is loopback only: metrics name the host's apps and classes.
var DefaultListen = fmt.Sprintf("127.0.0.1:%d", DefaultPort)

// Options are the knobs of Serve.
type Options struct {
	Listen        string // host:port
	AllowRemote   bool   // a non-loopback Listen needs this
	WebConfigFile string // exporter-toolkit web config: TLS, basic auth
	Netns         string // read the shaping state of this namespace
	Version       string
	Log           *slog.Logger
	// Health reports problems worth a look (a policy that failed to
	// reload); nil or "" is healthy. /healthz says it but stays 200: the
	// exporter and the running policy still work.
	Health func() string
	// Ready, when set, receives the listener's address once it listens.
	Ready chan<- net.Addr
	// Extra collectors registered beside the shaping state's (quotas).
	Extra []prometheus.Collector
	// History, when set, is the sampler recording counter history (nil:
	// --no-history). The page draws its chart from its Store.
	History *Sampler
	// Quotas, when set, lists quota use for the page (/api/quotas): a
	// JSON-able list of QuotaUse.
	Quotas func() any
}

// CheckListen refuses an address that is not loopback unless allowed:
// metrics name a host's apps and traffic, so exposing them is a choice.
func CheckListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return badInput(fmt.Errorf("--listen %q: %w: give host:port, e.g. %s", addr, err, DefaultListen))
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return badInput(fmt.Errorf("--listen %s is not a loopback address: metrics would be reachable from other hosts; "+
		"pass --allow-remote too (and protect them with --web.config.file: TLS, basic auth)", addr))
}

// Serve serves /metrics, /healthz and the page (page.go) on o.Listen until
// ctx ends. The collector is registered on a registry of its own, with the
// process and Go collectors: nothing global.
func Serve(ctx context.Context, o Options, sources ...Source) error {
	if err := CheckListen(o.Listen, o.AllowRemote); err != nil {
		return err
	}
	if o.WebConfigFile != "" {
		if err := web.Validate(o.WebConfigFile); err != nil {
			return badInput(fmt.Errorf("--web.config.file %s: %w", o.WebConfigFile, err))
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(o.Version, o.Log, sources...),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	for _, c := range o.Extra {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register collector: %w", err)
		}
	}
	srv := &http.Server{Handler: mux(reg, o, sources), ReadHeaderTimeout: 10 * time.Second}
	l, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	o.Log.Info("serving metrics", "addr", l.Addr().String(), "netns", o.Netns, "tls_auth_config", o.WebConfigFile)
	if o.Ready != nil {
		o.Ready <- l.Addr()
	}
	done := make(chan error, 1)
	go func() {
		done <- web.Serve(l, srv, &web.FlagConfig{WebConfigFile: &o.WebConfigFile}, o.Log)
	}()
	select {
	case err := <-done:
		return fmt.Errorf("serve metrics: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return fmt.Errorf("stop serving: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics: %w", err)
	}
	return nil
}

func mux(reg *prometheus.Registry, o Options, sources []Source) *http.ServeMux {
	m := http.NewServeMux()
	m.Handle("/metrics", metricsHandler(reg, o.Log))
	m.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if o.Health != nil {
			if msg := o.Health(); msg != "" {
				fmt.Fprintln(w, "ok, but:", msg)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	registerPage(m, o, sources)
	return m
}

// metricsHandler serves the registry, gzipped at best speed (gzip.go).
func metricsHandler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	return gzipFast(promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError), ErrorHandling: promhttp.ContinueOnError,
		MaxRequestsInFlight: 4, Timeout: 30 * time.Second, DisableCompression: true}))
}

// inputError marks the user's input as the cause: exit code 2.
type inputError struct{ error }

func (e inputError) Unwrap() error  { return e.error }
func (e inputError) BadInput() bool { return true }

func badInput(err error) error { return inputError{err} }
