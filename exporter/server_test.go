package exporter

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:19610", false, true},
		{"[::1]:19610", false, true},
		{"localhost:19610", false, true},
		{"127.0.0.2:1", false, true},
		{":19610", false, false}, // every address
		{"0.0.0.0:19610", false, false},
		{"198.18.0.1:19610", false, false},
		{"198.18.0.1:19610", true, true},
		{"19610", false, false},
	} {
		err := CheckListen(tc.addr, tc.remote)
		if (err == nil) != tc.ok {
			t.Errorf("CheckListen(%q, %v) = %v, want ok %v", tc.addr, tc.remote, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--listen") {
			t.Errorf("error does not name the flag: %v", err)
		}
	}
}

// serve runs Serve on a free loopback port with the fixture sources and
// returns its base URL; it stops with the test.
func serve(t *testing.T, o Options) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	o.Listen, o.Ready, o.Version = "127.0.0.1:0", ready, "test"
	o.Log = slog.New(slog.DiscardHandler)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, o, fixtureSources()...) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case a := <-ready:
		return "http://" + a.String()
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not listen within 5 s")
	}
	return ""
}

func get(t *testing.T, url, user, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeEndpoints(t *testing.T) {
	base := serve(t, Options{Health: func() string { return "" }})
	code, body := get(t, base+"/metrics", "", "")
	if code != 200 || !strings.Contains(body, `shaper_class_bytes_total{class="web",direction="egress",iface="eth0",netns="lab"} 1.099511627776e+12`) {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	if !strings.Contains(body, "process_resident_memory_bytes") {
		t.Error("/metrics lacks the process collector")
	}
	if code, body := get(t, base+"/healthz", "", ""); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	// Without gzip asked for, the body comes plain.
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(plain), "shaper_flows_active") {
		t.Errorf("identity: encoding %q, body %d bytes", resp.Header.Get("Content-Encoding"), len(plain))
	}
	if code, _ := get(t, base+"/nope", "", ""); code != 404 {
		t.Errorf("/nope: %d, want 404", code)
	}
}

// Basic auth from an exporter-toolkit web config file, as every official
// exporter takes it.
func TestServeBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, []byte("basic_auth_users:\n  prom: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := serve(t, Options{WebConfigFile: cfg})
	if code, _ := get(t, base+"/metrics", "", ""); code != 401 {
		t.Errorf("without credentials: %d, want 401", code)
	}
	if code, _ := get(t, base+"/metrics", "prom", "wrong"); code != 401 {
		t.Errorf("wrong password: %d, want 401", code)
	}
	if code, body := get(t, base+"/metrics", "prom", "s3cret"); code != 200 || !strings.Contains(body, "shaper_flows_active") {
		t.Errorf("with credentials: %d", code)
	}
}

func TestServeBadWebConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(cfg, []byte("tls_server_config:\n  cert_file: /nonexistent.crt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Serve(context.Background(), Options{Listen: "127.0.0.1:0", WebConfigFile: cfg, Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "--web.config.file") {
		t.Fatalf("Serve with a broken web config: %v", err)
	}
}

func TestServeUnhealthy(t *testing.T) {
	base := serve(t, Options{Health: func() string { return "policy p.yaml not applied" }})
	if code, body := get(t, base+"/healthz", "", ""); code != 200 || !strings.Contains(body, "not applied") {
		t.Errorf("/healthz: %d %q", code, body)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{"gzip": true, "gzip, deflate": true, "deflate, gzip;q=0.5": true,
		"gzip;q=0": false, "identity": false, "": false, "x-gzip": false} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}
