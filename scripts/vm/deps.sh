#!/usr/bin/env bash
# Installs, idempotently, what `make test-vm` needs on the host: qemu (TCG
# only; no KVM needed) and a static busybox for the VM's initramfs.
set -euo pipefail
pkgs=(qemu-system-x86 busybox-static xz-utils)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "test-vm: installing ${missing[*]}"
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
	echo "test-vm: cannot install ${missing[*]} with apt-get: the VM tier needs qemu-system-x86_64 and busybox-static (Debian/Ubuntu package names); install them and run make test-vm again" >&2
	exit 1
fi
