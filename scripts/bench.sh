#!/usr/bin/env bash
# make bench: run the benchmarks one at a time (the machine has two cores;
# a benchmark sharing them measures the other one) and print their tables.
# Each benchmark is a Go test gated by SHAPER_BENCH=1, so `make test` never
# runs it. A failing benchmark prints its log and makes the script exit 1
# after the others have run.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

if [ "$(id -u)" -ne 0 ]; then
	echo "make bench needs root (network namespaces, tc, bpf): run sudo make bench" >&2
	exit 1
fi

failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# bench TITLE PKG TEST FILTER: run one gated test and print its table.
# FILTER "stdout" keeps what the test printed with fmt.Printf (lines at
# column 0 that are not go test's own); "log" keeps a t.Logf block (the
# test's log lines, unindented).
bench() {
	local title=$1 pkg=$2 test=$3 filter=$4
	echo
	echo "== $title"
	echo "   ($test in $pkg)"
	if ! SHAPER_BENCH=1 go test -count=1 -timeout 30m -run "^${test}\$" -v "$pkg" >"$log" 2>&1; then
		echo "FAILED: $test; its output:"
		sed 's/^/   | /' "$log"
		failed=1
		return
	fi
	if grep -q -- "--- SKIP: $test" "$log"; then
		echo "SKIPPED:"
		grep -A3 -- "--- SKIP: $test" "$log" | sed 's/^/   | /'
		return
	fi
	case $filter in
	stdout)
		grep -Ev '^(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|FAIL|SKIP)|PASS$|FAIL$|ok[[:space:]]|[[:space:]])' "$log" ;;
	log)
		# "    x_test.go:12: title:" then its lines indented by 8 spaces.
		awk '/^    [A-Za-z0-9_]+\.go:[0-9]+: / { p = 1; sub(/^    [A-Za-z0-9_]+\.go:[0-9]+: /, ""); print; next }
		     p && /^        / { sub(/^        /, ""); print; next }
		     { p = 0 }' "$log" ;;
	esac
}

# 1. The classifier alone, BPF_PROG_TEST_RUN (whatever gated test loader/
# and bpf/ have for it; it logs its table).
found=0
for f in loader/*_test.go bpf/*_test.go; do
	[ -e "$f" ] || continue
	for t in $(grep -ho 'func Test[A-Za-z0-9_]*Bench[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
		[ "$t" = TestBenchU32 ] && continue
		bench "classifier per run, BPF_PROG_TEST_RUN" "./$(dirname "$f")/" "$t" log
		found=1
	done
done
if [ $found = 0 ]; then
	echo
	echo "== classifier per run, BPF_PROG_TEST_RUN"
	echo "TODO: no gated Test*Bench* in loader/ or bpf/ yet"
fi

# 2. One shaped class on the wire, shaper's burst against tc's default.
bench "shaping accuracy: one HTB class on a veth, iperf3 TCP" ./shaper/ TestBenchAccuracy stdout

# 3. The classifier with real packets against tc u32.
bench "classifier cost per packet on egress: shaper BPF vs tc u32" ./loader/ TestBenchU32 stdout

# 4. How long apply takes: first apply, no-op re-apply, rules-only change,
# 100,000 prefixes.
bench "apply time (shaper.Apply in a fresh lab namespace)" ./shaper/ TestBenchApply stdout
bench "apply time of 10,000 apps, 100,000 prefixes, 1,000 classes" ./shaper/ TestBenchApplyApps stdout

# 5. Hitless changes: a re-apply that moves an app to another class (map
# write, generation flip) and one that changes a rate (tc class change).
bench "hitless changes (shaper.Apply in a fresh lab namespace)" ./shaper/ TestBenchHitless stdout

# 6. What `shaper top` costs while it runs.
bench "shaper top: CPU while it runs in tmux against a lab with traffic" ./cmd/shaper/ TestBenchTopCPU stdout

# 7. Downloads: throughput and idle RTT through each path, accuracy per
# path and by hand.
bench "downloads: netns and ifb paths against bare and by hand" ./shaper/ TestBenchIngress stdout

# 8. The lab builder.
bench "netlab: 50-node lab up and down" ./netlab/ TestBenchLab50 stdout

# 9. shaper serve: scrape latency and memory at the classifier's limits.
bench "shaper serve: scrape latency and memory" ./exporter/ TestBenchServe stdout

# 10. The history store: 30 days of 10 s samples of 100 apps on 2
# interfaces, its size, a 30-day report's time, serve's memory sampling.
bench "history: write, size, report time, serve memory" ./exporter/ TestBenchHistory stdout

echo
if [ $failed != 0 ]; then
	echo "make bench: some benchmarks failed (see above)" >&2
	exit 1
fi
