#!/bin/sh
# Runs generated tools as user 65534 with file capabilities only, and prints
# for each example and capability set whether it loaded, attached and ran:
# the measurements behind docs/privileges.md. As root (setcap, setpriv).
#
#   Scripts/least-privilege.sh [INFRARED] [RUNNER]
#
# INFRARED defaults to .build/debug/infrared, RUNNER to
# .build-runner/release/infrared-runner. Exit 1 if a row differs from the
# expectation written beside it.
set -u
INFRARED=${1:-.build/debug/infrared}
RUNNER=${2:-.build-runner/release/infrared-runner}
dir=$(mktemp -d /tmp/least-privilege.XXXXXX)
chmod 755 "$dir"
cg=/sys/fs/cgroup/unified/infrared-least-privilege
[ -d /sys/fs/cgroup/unified ] || cg=/sys/fs/cgroup/infrared-least-privilege
mkdir -p "$cg"
trap 'rm -rf "$dir"; rmdir "$cg" 2>/dev/null' EXIT
fail=0
# example | flags | capabilities | expected (ok or the start of the error's reason)
while IFS='|' read -r ex flags caps want; do
    [ -n "$ex" ] || continue
    tool=$dir/$ex
    [ -x "$tool" ] || "$INFRARED" gen loader "Examples/$ex.rb" -o "$tool" --runner "$RUNNER" >/dev/null || exit 1
    chmod 755 "$tool"
    setcap "$caps+ep" "$tool" || exit 1
    # shellcheck disable=SC2086
    got=$(timeout 10 setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all \
          "$tool" $flags --duration 1 --quiet 2>&1 >/dev/null | grep -m1 'error:')
    got=${got:-ok}
    if [ "$want" = ok ]; then [ "$got" = ok ]; else case "$got" in *"$want"*) true ;; *) false ;; esac; fi
    if [ $? -eq 0 ]; then mark=' '; else mark='!'; fail=1; fi
    printf '%s %-13s %-45s %s\n' "$mark" "$ex" "$caps" "$got"
done <<TABLE
execsnoop||cap_bpf,cap_perfmon|EACCES
execsnoop||cap_bpf,cap_perfmon,cap_dac_read_search|ok
runqlat||cap_bpf,cap_perfmon|EACCES
runqlat||cap_bpf,cap_perfmon,cap_dac_read_search|ok
syscount||cap_bpf,cap_perfmon|ok
syscount||cap_perfmon|EPERM
profile||cap_bpf,cap_perfmon|ok
profile||cap_bpf|EPERM
xdp_count|--ifname lo|cap_bpf,cap_perfmon|EPERM
xdp_count|--ifname lo|cap_bpf,cap_perfmon,cap_net_admin|ok
device_filter|--cgroup $cg|cap_bpf,cap_perfmon|EPERM
device_filter|--cgroup $cg|cap_bpf,cap_perfmon,cap_net_admin|ok
TABLE
exit $fail
