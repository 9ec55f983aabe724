#!/usr/bin/env bash
# Installs, idempotently, what shaper's build, tests, demo and benchmarks need.
set -euo pipefail
pkgs=(clang llvm libbpf-dev iperf3 iproute2 iputils-ping traceroute frr graphviz ethtool socat prometheus nftables chromium)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "deps: installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Go tools are declared in go.mod (tool directives); fetch them once.
go mod download
# A fresh machine may not have bpffs mounted.
if [ "$(id -u)" -eq 0 ] && ! mountpoint -q /sys/fs/bpf; then
	mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf
fi
