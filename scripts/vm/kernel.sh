#!/usr/bin/env bash
# Fetches Debian's 6.1 cloud kernel (a kernel without TCX) into $1 (a cache
# directory, .vm/kernel by default) and prints the unpacked tree's path.
# The newest linux-image-6.1.*-cloud-amd64 that apt knows is used unless
# SHAPER_VM_KERNEL_PKG names one. Nothing is installed on the host: the
# package is downloaded and unpacked with dpkg-deb.
set -euo pipefail
cache=${1:-.vm/kernel}
pkg=${SHAPER_VM_KERNEL_PKG:-}
if [ -z "$pkg" ]; then
	pkg=$(apt-cache search --names-only '^linux-image-6\.1\.[0-9]+-[0-9]+-cloud-amd64$' 2>/dev/null |
		awk '{print $1}' | sort -V | tail -n1)
fi
if [ -z "$pkg" ]; then
	echo "test-vm: apt knows no linux-image-6.1.*-cloud-amd64 package: the VM tier needs Debian 12 (bookworm) package lists (run apt-get update, or set SHAPER_VM_KERNEL_PKG)" >&2
	exit 1
fi
mkdir -p "$cache"
tree="$(cd "$cache" && pwd)/$pkg"
if [ ! -f "$tree/.done" ]; then
	rm -rf "$tree" && mkdir -p "$tree"
	echo "test-vm: downloading $pkg" >&2
	if ! (cd "$tree" && apt-get download "$pkg" >/dev/null 2>"$tree/.apt.log"); then
		echo "test-vm: apt-get download $pkg failed: $(tail -n1 "$tree/.apt.log")" >&2
		exit 1
	fi
	dpkg-deb -x "$tree"/*.deb "$tree/root"
	rm -f "$tree"/*.deb
	# The package ships no modules.dep (depmod runs at install): make one.
	ver=$(ls "$tree/root/lib/modules")
	busybox depmod -b "$tree/root" "$ver"
	touch "$tree/.done"
fi
echo "$tree/root"
