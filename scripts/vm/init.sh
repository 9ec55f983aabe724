#!/bin/sh
# /init of the test VM (busybox sh, PID 1). It mounts what the tests need,
# loads the modules in dependency order, runs each test binary of /tests/plan
# and prints the result on the serial console, where scripts/vm/test.sh
# reads it: a "VM-RESULT: PASS" or "VM-RESULT: FAIL" line at the end.
# Busybox's shell prefers its own applets (ip, tc, ...): the real tools are
# called by absolute path here, and the Go tests find them first in PATH.
export PATH=/opt/tools/bin:/usr/local/bin:/bin
export HOME=/root TMPDIR=/tmp

fail() {
	echo "VM-RESULT: FAIL ($*)"
	poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /sys/fs/bpf /sys/fs/cgroup /var && ln -s /run /var/run
mount -t bpf bpf /sys/fs/bpf || fail "mount bpffs"
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "mount cgroup2"

while read -r m; do
	insmod "/modules/$m" || fail "insmod $m"
done </modules/order
/opt/tools/bin/ip link set lo up || fail "lo up"

. /tests/env
echo "VM-KERNEL: $(uname -r)"
# Shaping accuracy depends on the clock and timer resolution: say what they are.
echo "VM-CLOCK: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)," \
	"hrtimer $(grep -m1 resolution /proc/timer_list | tr -s ' '), $(nproc) cpus"
rc=0
while read -r pkg bin args; do
	case "$pkg" in '#'* | '') continue ;; esac
	echo "VM-PKG: $pkg"
	start=$(date +%s)
	# shellcheck disable=SC2086 # args are -test.* flags without spaces
	(cd "/src/$pkg" && "/tests/$bin" -test.v -test.count=1 -test.timeout=20m $args) 2>&1
	r=$?
	echo "VM-PKG-DONE: $pkg rc=$r in $(($(date +%s) - start))s"
	[ "$r" -eq 0 ] || rc=1
done </tests/plan
# The CLI as a user runs it: apply, dry-run, status, delete.
echo "VM-PKG: smoke"
sh /tests/smoke.sh 2>&1
r=$?
echo "VM-PKG-DONE: smoke rc=$r"
[ "$r" -eq 0 ] || rc=1
sync
if [ "$rc" -eq 0 ]; then echo "VM-RESULT: PASS"; else echo "VM-RESULT: FAIL (tests)"; fi
poweroff -f
