#!/usr/bin/env bash
# make demo: a two-namespace lab, the example policy on the client's eth0,
# shaper serve recording history, three iperf3 flows (web, mail, other)
# for 10 s, then shaper status and the per-app report (table and chart).
set -euo pipefail
cd "$(dirname "$0")/.."
shaper=bin/shaper
lab=examples/labs/shaping.yaml
client=shaper-demo-client
server=shaper-demo-server
secs=${DEMO_SECONDS:-10}
# History lives here, not in /var/lib/shaper: make demo-down removes it.
state=${DEMO_STATE_DIR:-/tmp/shaper-demo}
listen=127.0.0.1:19619

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root (network namespaces, tc, bpf): run sudo make demo" >&2
	exit 1
fi

echo "== 1. lab: two namespaces joined by a veth ($lab)"
$shaper lab up "$lab"

echo
echo "== 2. policy: examples/policy.yaml on eth0 in $client (web 50%, mail 30%, other 20% of 100mbit)"
$shaper apply examples/policy.yaml

echo
echo "== 3. shaper serve: metrics, the page on http://$listen/ and history every second in $state"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
mkdir -p "$state" && rm -rf "$state/history"
# In the foreground of a managed process, stopped by its PID below.
timeout $((secs + 60)) $shaper serve --netns $client --state-dir "$state" --interval 1s --listen $listen \
	2>"$state.serve.log" &
serve=$!
pids+=($serve)
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/${listen%:*}/${listen#*:}") 2>/dev/null && break
	sleep 0.2
done

echo
echo "== 4. traffic: three iperf3 flows for ${secs}s (5201 = web, 5202 = mail, 5203 = other)"
for port in 5201 5202 5203; do
	# One-off servers in the foreground of a managed process: no daemons.
	timeout $((secs + 20)) $shaper lab exec shaper-demo server -- iperf3 -s -1 -p $port >/dev/null &
	pids+=($!)
done
sleep 1
for port in 5201 5202 5203; do
	timeout $((secs + 20)) $shaper lab exec shaper-demo client -- \
		iperf3 -c 198.18.0.2 -p $port -t "$secs" -f m | awk -v p=$port '/receiver/ {print "  iperf3 port " p ": " $7 " " $8 " goodput, averaged over the whole run"}' &
	pids+=($!)
done
sleep $((secs / 2))

echo
echo "== 5. status while the flows run: NOW is each class's rate on the wire over 2 s"
$shaper status --netns $client --sample 2s
for p in "${pids[@]}"; do
	[ "$p" = "$serve" ] || wait "$p" || true
done
sleep 2 # the last samples of the flows into history

echo
echo "== 6. which app used the line: shaper report over the demo's minute"
$shaper report --state-dir "$state" --netns $client --since 1m
$shaper report --state-dir "$state" --netns $client --since 1m -o png --out "$state/report.png"
echo "  chart: $state/report.png"
kill "$serve" 2>/dev/null || true
wait "$serve" 2>/dev/null || true

echo
echo "The lab is still up for you to explore:"
echo "  $shaper lab exec shaper-demo client -- iperf3 -c 198.18.0.2 -p 5201 -t 5"
echo "  $shaper status --netns $client"
echo "  $shaper serve --netns $client --state-dir $state   # then open http://127.0.0.1:19610/"
echo "  $shaper report --netns $client --state-dir $state --since 1h"
echo "Tear it down with: make demo-down"
