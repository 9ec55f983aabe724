#!/bin/sh
# Runs inside the test VM: the CLI as a new user would run it on a kernel
# without TCX (the steps of issue 7): apply --dry-run, apply, status,
# re-apply, delete, on a veth in a namespace of its own. Real tools by path:
# busybox's shell would run its own ip/tc applets.
set -eu
IP=/opt/tools/bin/ip TC=/opt/tools/bin/tc SHAPER=/usr/local/bin/shaper NS=vmsmoke
step() { echo "smoke: $*"; }
fail() {
	echo "smoke: FAIL: $*"
	exit 1
}

$IP netns add $NS
trap '$SHAPER delete --netns $NS >/dev/null 2>&1; $IP netns del $NS' EXIT
$IP -n $NS link add v0 type veth peer name v1
$IP -n $NS link set v0 up
$IP -n $NS link set v1 up
cat >/tmp/smoke.yaml <<EOP
version: 1
apps:
  - {name: web, match: [{proto: tcp, dport: [80, 443]}]}
interfaces:
  - name: v0
    netns: $NS
    egress:
      rate: 20mbit
      default: other
      classes:
        - {name: web,   rate: 60%, ceil: 100%, apps: [web]}
        - {name: other, rate: 40%, ceil: 100%}
EOP

step "shaper apply --dry-run"
$SHAPER apply --dry-run /tmp/smoke.yaml
$TC -n $NS qdisc show dev v0 | grep -q htb && fail "dry-run touched the kernel"

step "shaper apply"
$SHAPER apply /tmp/smoke.yaml
$TC -n $NS qdisc show dev v0 | grep -q "qdisc htb 1: root" || fail "no htb root after apply"
$TC -n $NS filter show dev v0 egress | grep -q "shaper" || fail "no cls_bpf filter of ours on clsact egress"

step "shaper status"
out=$($SHAPER status --netns $NS --sample 0)
echo "$out"
echo "$out" | grep -q "attached with tc," || fail "status does not say attached with tc"
echo "$out" | grep -q "in sync" || fail "status does not say in sync"

step "shaper apply (again: nothing changes)"
$SHAPER apply /tmp/smoke.yaml

step "shaper delete"
$SHAPER delete --netns $NS
$TC -n $NS qdisc show dev v0 | grep -q htb && fail "htb left after delete"
$TC -n $NS filter show dev v0 egress | grep -q shaper && fail "filter left after delete"
echo "smoke: ok"
