#!/usr/bin/env bash
# make demo: a two-namespace lab, the example policy on the client's eth0,
# three iperf3 flows (web, mail, other) for 10 s, then shaper status.
set -euo pipefail
cd "$(dirname "$0")/.."
shaper=bin/shaper
lab=examples/labs/shaping.yaml
client=shaper-demo-client
server=shaper-demo-server
secs=${DEMO_SECONDS:-10}

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
echo "== 3. traffic: three iperf3 flows for ${secs}s (5201 = web, 5202 = mail, 5203 = other)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
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
echo "== 4. status while the flows run: NOW is each class's rate on the wire over 2 s"
$shaper status --netns $client --sample 2s
wait

echo
echo "The lab is still up for you to explore:"
echo "  $shaper lab exec shaper-demo client -- iperf3 -c 198.18.0.2 -p 5201 -t 5"
echo "  $shaper status --netns $client"
echo "Tear it down with: make demo-down"
