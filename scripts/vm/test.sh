#!/usr/bin/env bash
# make test-vm: runs the privileged tests on Debian 12's 6.1 cloud kernel (no
# TCX: the clsact fallback) under qemu with TCG, in a busybox initramfs.
# Results come back on the serial console; this script exits non-zero
# unless the VM printed "VM-RESULT: PASS".
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH

# The test plan, in one place: package, then extra go test flags. After
# the packages, scripts/vm/smoke.sh runs the CLI (apply, dry-run, status,
# delete) as a user would.
# Not run in the VM: netlab (its tests need FRR's ospfd/vtysh, which the
# VM does not carry; the host tier runs them) and the pure packages
# (policy, classify: no kernel involved, the host tier runs them).
# Benchmarks (SHAPER_BENCH) are `make bench`, not part of this tier.
# exporter: the collector, the server, history, reports and quotas run
# here against the shaper binary the VM carries (SHAPER_BIN); the tests
# with a real Prometheus or Chromium (TestServeWithPrometheus,
# TestReportFromPrometheus, TestServePage) and the reload test run on the
# host tier only: the VM carries neither Prometheus nor Chromium.
PLAN=(
	"loader"
	"shaper"
	"cmd/shaper"
	"exporter -test.skip=^(TestServe(Reload|WithPrometheus|Page)|TestReportFromPrometheus)$"
	"report"
)
# Fewer random policies for the differential test under TCG (60 take 90 s
# there). The traffic tests run as on the host (100mbit shares, TBF
# 1024kbit): TCG moves that through a veth when the machine is not busy.
VM_ENV=(CI=1 SHAPER_TEST_TCX=no SHAPER_BIN=/usr/local/bin/shaper SHAPER_TIER=vm "SHAPER_DIFF_POLICIES=${SHAPER_DIFF_POLICIES:-20}")
# SHAPER_VM_RUN=regexp runs only the matching tests (go test -run), to
# iterate on a few tests; the tier itself runs everything in PLAN.
RUN_FLAGS=()
[ -n "${SHAPER_VM_RUN:-}" ] && RUN_FLAGS=("-test.run=$SHAPER_VM_RUN")
# Real tools the tests exec; copied from the host with their libraries.
TOOLS=(ip tc ss iperf3 ping nsenter nice ethtool socat tmux nft)
OPTIONAL_TOOLS=()
MODULES=(veth ifb bridge sch_htb sch_tbf sch_ingress cls_bpf act_bpf act_mirred cls_u32
	xfrm_algo xfrm_user nfnetlink tun nf_tables)

VM=${SHAPER_VM_DIR:-.vm}
MEM=${SHAPER_VM_MEM:-2G}
SMP=${SHAPER_VM_SMP:-2}
TIMEOUT=${SHAPER_VM_TIMEOUT:-1200}
# The traffic tests' timing needs the vCPUs to run when their timers fire;
# on a machine busy with other work, SHAPER_VM_NICE=-10 gives qemu priority.

need() {
	for c in qemu-system-x86_64 busybox apt-cache dpkg-deb gzip; do
		command -v "$c" >/dev/null || {
			echo "test-vm: $c not found: run scripts/vm/deps.sh (it installs qemu-system-x86 and busybox-static)" >&2
			exit 1
		}
	done
}

# build_tests writes one static test binary per package of PLAN that has
# tests, and the VM's plan file.
build_tests() {
	local root=$1 line pkg flags bin
	mkdir -p "$root/tests"
	: >"$root/tests/plan"
	for line in "${PLAN[@]}"; do
		read -r pkg flags <<<"$line"
		[ -d "$pkg" ] || continue
		bin=$(echo "$pkg" | tr / _).test
		CGO_ENABLED=0 go test -c -o "$root/tests/$bin" "./$pkg"
		[ -f "$root/tests/$bin" ] || continue # no tests in the package
		mkdir -p "$root/src/$pkg"
		[ -d "$pkg/testdata" ] && cp -r "$pkg/testdata" "$root/src/$pkg/"
		echo "$pkg $bin $flags ${RUN_FLAGS[*]}" >>"$root/tests/plan"
	done
	# The CLI for the smoke test (scripts/vm/smoke.sh).
	CGO_ENABLED=0 go build -o "$root/usr/local/bin/shaper" ./cmd/shaper
	cp scripts/vm/smoke.sh "$root/tests/smoke.sh"
	# Tests read shipped examples by relative path (../../examples).
	cp -r examples "$root/src/"
	printf 'export %s\n' "${VM_ENV[@]}" >"$root/tests/env"
}

# copy_with_libs copies a host binary and the shared libraries it loads.
copy_with_libs() {
	local root=$1 bin=$2 lib
	cp -L --parents "$bin" "$root"
	for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$root$lib" ] || cp -L --parents "$lib" "$root"
	done
}

copy_tools() {
	local root=$1 t p
	for t in "${TOOLS[@]}" "${OPTIONAL_TOOLS[@]}"; do
		p=$(command -v "$t" || true)
		if [ -z "$p" ] && [[ " ${TOOLS[*]} " == *" $t "* ]]; then
			echo "test-vm: $t not found on this host: the tests in the VM need it (make deps installs it)" >&2
			exit 1
		elif [ -z "$p" ]; then
			echo "test-vm: $t not on this host: not copied into the VM" >&2
			continue
		fi
		copy_with_libs "$root" "$(readlink -f "$p")"
		# One fixed place, first in the VM's PATH, whatever the host's layout.
		mkdir -p "$root/opt/tools/bin"
		ln -sf "$(readlink -f "$p")" "$root/opt/tools/bin/$t"
	done
	# tmux refuses to start without a UTF-8 locale (it tries C.UTF-8).
	if [ -d /usr/lib/locale/C.utf8 ]; then
		mkdir -p "$root/usr/lib/locale" && cp -a /usr/lib/locale/C.utf8 "$root/usr/lib/locale/"
	fi
	return 0
}

# copy_modules copies MODULES and what they depend on (modules.dep), and
# writes their load order: dependencies first. .ko.xz files are unpacked.
copy_modules() {
	local root=$1 kroot=$2 m
	local mdir=("$kroot"/lib/modules/*)
	mkdir -p "$root/modules"
	: >"$root/modules/order"
	declare -gA LOADED=()
	for m in "${MODULES[@]}"; do
		load_order "$root" "$mdir" "$(dep_path "$mdir" "$m")"
	done
}

dep_path() {
	local p
	p=$(grep -E "(^|/)$2\.ko(\.xz|\.zst)?:" "$1/modules.dep" | cut -d: -f1)
	if [ -z "$p" ]; then
		echo "test-vm: module $2 is not in $(basename "$1")" >&2
		exit 1
	fi
	echo "$p"
}

load_order() {
	local root=$1 mdir=$2 rel=$3 d name
	[ -n "${LOADED[$rel]:-}" ] && return
	for d in $(grep -E "^$rel:" "$mdir/modules.dep" | cut -d: -f2); do
		load_order "$root" "$mdir" "$d"
	done
	LOADED[$rel]=1
	name=$(basename "$rel")
	name=${name%.xz} name=${name%.zst}
	case "$rel" in
	*.xz) xz -dc "$mdir/$rel" >"$root/modules/$name" ;;
	*.zst) zstd -qdc "$mdir/$rel" >"$root/modules/$name" ;;
	*) cp "$mdir/$rel" "$root/modules/$name" ;;
	esac
	echo "$name" >>"$root/modules/order"
}

build_initramfs() {
	local root=$1 kroot=$2 out=$3 a
	rm -rf "$root" && mkdir -p "$root"/{bin,proc,sys,dev,tmp,run,root,etc}
	cp "$(command -v busybox)" "$root/bin/busybox"
	for a in $(busybox --list); do
		[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
	done
	cp scripts/vm/init.sh "$root/init"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
	copy_tools "$root"
	copy_modules "$root" "$kroot"
	build_tests "$root"
	(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$out"
}

run_vm() {
	local kroot=$1 initrd=$2 log=$3
	local kernel=("$kroot"/boot/vmlinuz-*)
	echo "test-vm: booting $(basename "${kernel[0]}") under qemu (TCG, ${SMP} cpus, ${MEM}); log in $log" >&2
	# TCG's TSC follows the host's clock; without tsc=reliable the kernel
	# distrusts it and reads the emulated HPET on every timestamp, which is
	# slow under TCG. panic=-1 and -no-reboot: a crash ends qemu at once.
	timeout --foreground -k 10 "$TIMEOUT" nice -n "${SHAPER_VM_NICE:-0}" qemu-system-x86_64 -accel tcg -cpu max -smp "$SMP" -m "$MEM" \
		-kernel "${kernel[0]}" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1 mitigations=off clocksource=tsc tsc=reliable" \
		-display none -monitor none -serial stdio -no-reboot -nic none </dev/null | tee "$log" || true
}

main() {
	need
	local kroot
	kroot=$(scripts/vm/kernel.sh "$VM/kernel")
	mkdir -p "$VM"
	build_initramfs "$VM/root" "$kroot" "$VM/initrd.gz"
	run_vm "$kroot" "$VM/initrd.gz" "$VM/console.log"
	echo "---- test-vm summary ($VM/console.log)"
	grep -aE '^(VM-KERNEL|VM-PKG-DONE|--- FAIL|FAIL|ok )' "$VM/console.log" || true
	if grep -aq '^VM-RESULT: PASS' "$VM/console.log"; then
		echo "test-vm: PASS"
		return 0
	fi
	grep -a '^VM-RESULT' "$VM/console.log" || echo "test-vm: the VM printed no result (crashed, or timed out after ${TIMEOUT}s)"
	echo "test-vm: FAIL" >&2
	return 1
}

main "$@"
