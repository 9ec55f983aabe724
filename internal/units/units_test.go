package units

import (
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		bits    uint64
		percent float64
		err     string // substring of the error; "" = no error
	}{
		{in: "100mbit", bits: 100_000_000},
		{in: "100Mbit", bits: 100_000_000},
		{in: "1024kbit", bits: 1_024_000},
		{in: "1gbit", bits: 1_000_000_000},
		{in: "2tbit", bits: 2_000_000_000_000},
		{in: "1500bit", bits: 1500},
		{in: "1500", bits: 1500},
		{in: " 10mbit ", bits: 10_000_000},
		{in: "10 mbit", bits: 10_000_000},
		{in: "1.5mbit", bits: 1_500_000},
		{in: ".5kbit", bits: 500},
		{in: "1kibit", bits: 1024},
		{in: "1mibit", bits: 1 << 20},
		{in: "1gibit", bits: 1 << 30},
		{in: "1bps", bits: 8},
		{in: "1kbps", bits: 8000},
		{in: "10mbps", bits: 80_000_000},
		{in: "1gbps", bits: 8_000_000_000},
		{in: "1KBps", bits: 8000},
		{in: "1kibps", bits: 8192},
		{in: "0.1bit", bits: 0},        // fractions of a bit are dropped
		{in: "0mbit", bits: 0},         // zero parses; the decoder rejects it
		{in: "1.0009kbit", bits: 1000}, // floor
		{in: "18446744073709551615", bits: 18446744073709551615},
		{in: "50%", percent: 50},
		{in: "12.5%", percent: 12.5},
		{in: "100%", percent: 100},
		{in: " 20 % ", percent: 20},
		{in: "0.001%", percent: 0.001},
		{in: "0%", err: `percentage "0%" is out of range`},
		{in: "100.1%", err: "out of range"},
		{in: "-5%", err: "invalid percentage"},
		{in: "%", err: "invalid percentage"},
		{in: "abc%", err: "invalid percentage"},
		{in: "10mbits", err: `unknown unit "mbits" in rate "10mbits"`},
		{in: "10mb", err: `unknown unit "mb"`},
		{in: "", err: "it must start with a number"},
		{in: "mbit", err: "it must start with a number"},
		{in: "-10mbit", err: "it must start with a number"},
		{in: "1e6", err: `unknown unit "e6"`},
		{in: "1.2.3mbit", err: "it must start with a number"},
		{in: "18446744073709551616", err: "too large"},
		{in: "100tbps", err: ""}, // 8e14 fits
		{in: "99999999999tbps", err: "too large"},
		{in: strings.Repeat("9", 41), err: "it must start with a number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			bits, pct, isPct, err := ParseRate(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseRate(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRate(%q): %v", tt.in, err)
			}
			if tt.in == "100tbps" {
				return
			}
			if bits != tt.bits || pct != tt.percent || isPct != (tt.percent > 0) {
				t.Fatalf("ParseRate(%q) = %d, %v, %v; want %d, %v", tt.in, bits, pct, isPct, tt.bits, tt.percent)
			}
		})
	}
}

func TestParseRateHint(t *testing.T) {
	_, _, _, err := ParseRate("10mbits")
	want := `unknown unit "mbits" in rate "10mbits"; use bit, kbit, mbit, gbit, bps, kbps, mbps, gbps or a percentage like 50%`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		err  string
	}{
		{in: "1540", want: 1540},
		{in: "1540b", want: 1540},
		{in: "1540B", want: 1540},
		{in: "16k", want: 16384},
		{in: "16kb", want: 16384},
		{in: "16KB", want: 16384},
		{in: "1m", want: 1 << 20},
		{in: "1mb", want: 1 << 20},
		{in: "1g", want: 1 << 30},
		{in: "3gb", want: 3 << 30},
		{in: "8kbit", want: 1024},
		{in: "1mbit", want: 131072},
		{in: "1gbit", want: 1 << 27},
		{in: "1.5k", want: 1536},
		{in: "0", want: 0},
		{in: "4294967295", want: 4294967295},
		{in: "4gb", err: "too large"},
		{in: "4294967296", err: "too large"},
		{in: "10kib", err: `unknown unit "kib" in size "10kib"`},
		{in: "10 bytes", err: "unknown unit"},
		{in: "", err: "must start with a number"},
		{in: "-1", err: "must start with a number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseSize(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "50ms", want: 50 * time.Millisecond},
		{in: "50msec", want: 50 * time.Millisecond},
		{in: "1.5s", want: 1500 * time.Millisecond},
		{in: "2sec", want: 2 * time.Second},
		{in: "200us", want: 200 * time.Microsecond},
		{in: "200usecs", want: 200 * time.Microsecond},
		{in: "400", want: 400 * time.Microsecond}, // tc: a plain number is microseconds
		{in: "0.5us", want: 500 * time.Nanosecond},
		{in: "1MS", want: time.Millisecond},
		{in: "50m", err: `unknown unit "m" in time "50m"`},
		{in: "1h", err: "unknown unit"},
		{in: "ms", err: "must start with a number"},
		{in: "99999999999999s", err: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseDuration(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatRate(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{
		{0, "0bit"},
		{1, "1bit"},
		{1500, "1500bit"},
		{1000, "1kbit"},
		{1_024_000, "1024kbit"},
		{100_000_000, "100mbit"},
		{1_500_000, "1500kbit"},
		{1_000_000_000, "1gbit"},
		{10_000_000_000_000, "10tbit"},
		{1024, "1024bit"},
		{18446744073709551615, "18446744073709551615bit"},
	}
	for _, tt := range tests {
		got := FormatRate(tt.in)
		if got != tt.want {
			t.Errorf("FormatRate(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if bits, _, _, err := ParseRate(got); err != nil || bits != tt.in {
			t.Errorf("ParseRate(FormatRate(%d)) = %d, %v", tt.in, bits, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   uint32
		want string
	}{
		{0, "0b"}, {1540, "1540b"}, {1024, "1kb"}, {16384, "16kb"}, {1536, "1536b"},
		{1 << 20, "1mb"}, {3 << 30, "3gb"}, {4294967295, "4294967295b"},
	}
	for _, tt := range tests {
		got := FormatSize(tt.in)
		if got != tt.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := ParseSize(got); err != nil || back != tt.in {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", tt.in, back, err)
		}
	}
}

func TestPercentOf(t *testing.T) {
	tests := []struct {
		base    uint64
		percent float64
		want    uint64
	}{
		{100_000_000, 50, 50_000_000},
		{100_000_000, 33.3, 33_300_000},
		{100_000_000, 100, 100_000_000},
		{100_000_000, 0.000001, 1},
		{3, 50, 1}, // floor: children's rates never exceed the parent's
		{18446744073709551615, 100, 18446744073709551615},
		{18446744073709551615, 50, 9223372036854775807},
	}
	for _, tt := range tests {
		if got := PercentOf(tt.base, tt.percent); got != tt.want {
			t.Errorf("PercentOf(%d, %v) = %d, want %d", tt.base, tt.percent, got, tt.want)
		}
	}
}

// The values the issue names, and decimals a float cannot hold: every one
// is read exactly.
func TestParseExact(t *testing.T) {
	for in, want := range map[string]uint64{
		"4.1mbit": 4_100_000, "1.5gbit": 1_500_000_000, "100kbps": 800_000, "0.3mbit": 300_000,
		"2.2gbit": 2_200_000_000, "4.1kbps": 32_800, "1.1tbit": 1_100_000_000_000, "0.7kbit": 700,
	} {
		if got, _, _, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]uint32{"32k": 32 << 10, "32kb": 32 << 10, "0.5k": 512, "1.1m": 1153433} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestParsePercent(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  string
	}{
		{in: "1%", want: 1}, {in: "1", want: 1}, {in: "0", want: 0}, {in: "0%", want: 0},
		{in: " 12.5 % ", want: 12.5}, {in: "100", want: 100},
		{in: "100.5%", err: `percentage "100.5%" is out of range; a percentage must be from 0% to 100%`},
		{in: "-1%", err: "invalid percentage"}, {in: "x", err: "invalid percentage"}, {in: "", err: "invalid percentage"},
	}
	for _, tt := range tests {
		got, err := ParsePercent(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParsePercent(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
