#!/bin/busybox sh
# The guest's /init (Scripts/vmtest.sh puts it in the initramfs): mounts what
# the tools need, runs every check of /checks.sh, prints one line per check
#   RESULT <tool> PASS|FAIL <what was checked>
# to the serial console, and powers the machine off.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
echo "VMTEST BOOTED $(uname -r) btf=$([ -r /sys/kernel/btf/vmlinux ] && echo yes || echo no)"
. /etc/vmtest.env; export VMTEST_CHECKS
sh /checks.sh
echo "VMTEST DONE"
sync
poweroff -f
