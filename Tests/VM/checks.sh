#!/bin/sh
# The checks run in each kernel of `make vmtest` (Scripts/vmtest.sh), by the
# guest's /init. Each prints exactly one line
#   RESULT <tool> PASS|FAIL <what was checked>
# and on FAIL the tool's output as LOG lines. Tools are the static loaders in
# /bin (built by `infrared gen loader` on the host); the workload is
# /bin/vmwork (Tests/VM/vmwork.c), so the counts below are exact.

result() {  # TOOL PASS|FAIL WHAT
  echo "RESULT $1 $2 $3"
  if [ "$2" = FAIL ]; then
    for f in /tmp/$1.out /tmp/$1.err; do [ -f "$f" ] && tail -n 25 "$f" | sed "s|^|LOG $1 ${f##*.}: |"; done
  fi
}

# start TOOL ARGS...: runs the tool in the background, waits (up to 60 s)
# until it says it attached; returns non-zero if it exited or never did.
start() {
  tool=$1; shift
  "/bin/$tool" "$@" >/tmp/$tool.out 2>/tmp/$tool.err &
  tool_pid=$!
  i=0
  while ! grep -q attached /tmp/$tool.err; do
    kill -0 $tool_pid 2>/dev/null || return 1
    i=$((i + 1)); [ $i -gt 600 ] && return 1
    usleep 100000
  done
}

# reap PID: its exit status, waiting at most 15 s; a process still running
# then is reported (its state and kernel stack as LOG lines), killed with
# SIGKILL and given status 124.
reap() {
  i=0
  while [ -d /proc/$1 ] && ! grep -q '^State:.*Z' /proc/$1/status 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 150 ]; then
      echo "LOG reap: pid $1 ($(cat /proc/$1/comm 2>/dev/null)) still running 15 s after its signal: $(grep -E '^(State|SigPnd|ShdPnd|SigBlk|SigIgn|SigCgt)' /proc/$1/status | tr '\n' ' ')"
      for t in /proc/$1/task/*; do echo "LOG reap: thread ${t##*/} $(cat $t/comm) $(tr '\n' ' ' <$t/stack 2>/dev/null)"; done
      kill -KILL $1; wait $1
      return 124
    fi
    usleep 100000
  done
  wait $1
}

# stop: SIGINT to the tool (it drains its buffers and prints its maps); its exit status.
stop() {
  usleep 200000
  kill -INT $tool_pid
  reap $tool_pid
}

# wait_ready FILE: until the workload created FILE (it blocked SIGUSR1 first).
wait_ready() {
  i=0
  while [ ! -e "$1" ]; do i=$((i + 1)); [ $i -gt 300 ] && return 1; usleep 20000; done
}

check_opencount() {  # kprobe + kretprobe on do_sys_openat2
  w="do_sys_openat2 by one process opening a file 5 times and a missing one 3 times: 8 calls (kprobe), 3 returns of -ENOENT and 3 of ctx.ret < 0 (kretprobe)"
  rm -f /tmp/ready; vmwork opens /tmp/ready /etc/vmtest-present 5 /nonexistent-vmtest 3 & wp=$!
  wait_ready /tmp/ready || { result opencount FAIL "$w (workload not ready)"; return; }
  start opencount --target-pid $wp || { kill $wp; result opencount FAIL "$w (did not attach)"; return; }
  kill -USR1 $wp; wait $wp; ws=$?
  stop; ts=$?
  calls=$(sed -n 's/^calls\[0\]: //p' /tmp/opencount.out)
  enoent=$(sed -n 's/^enoent\[0\]: //p' /tmp/opencount.out)
  errors=$(sed -n 's/^errors\[0\]: //p' /tmp/opencount.out)
  if [ $ws = 0 ] && [ $ts = 0 ] && [ "$calls" = 8 ] && [ "$enoent" = 3 ] && [ "$errors" = 3 ]; then result opencount PASS "$w"
  else result opencount FAIL "$w (calls=$calls enoent=$enoent errors=$errors workload=$ws tool=$ts)"; fi
}

check_execsnoop() {
  w="3 exec lines of /bin/vmwork, each with the child's pid, the shell's ppid, uid 0, comm vmwork"
  start execsnoop || { result execsnoop FAIL "$w (did not attach)"; return; }
  sh -c 'for i in 1 2 3; do /bin/vmwork exit 0 & echo "$! $$" >>/tmp/exec.ids; wait; done'
  stop; ts=$?
  n=$(awk '$5 == "/bin/vmwork"' /tmp/execsnoop.out | wc -l)
  ok=0
  while read p pp; do
    awk -v p=$p -v pp=$pp '$1 == p && $2 == pp && $3 == 0 && $4 == "vmwork" && $5 == "/bin/vmwork" { f = 1 } END { exit !f }' /tmp/execsnoop.out && ok=$((ok + 1))
  done </tmp/exec.ids
  if [ $ts = 0 ] && [ $n = 3 ] && [ $ok = 3 ]; then result execsnoop PASS "$w"
  else result execsnoop FAIL "$w (lines=$n matching=$ok tool=$ts)"; fi
}

check_opensnoop() {
  w="2 opens of a present file (fd >= 3) and 3 of a missing one with ret -2, pid and comm of the workload"
  rm -f /tmp/ready; vmwork opens /tmp/ready /etc/vmtest-present 2 /nonexistent-vmtest 3 & wp=$!
  wait_ready /tmp/ready || { result opensnoop FAIL "$w (workload not ready)"; return; }
  start opensnoop --target-pid $wp || { kill $wp; result opensnoop FAIL "$w (did not attach)"; return; }
  kill -USR1 $wp; wait $wp; ws=$?
  stop; ts=$?
  present=$(awk -v p=$wp '$1 == p && $2 == "vmwork" && $3 >= 3 && $5 == "/etc/vmtest-present"' /tmp/opensnoop.out | wc -l)
  missing=$(awk -v p=$wp '$1 == p && $2 == "vmwork" && $3 == -2 && $5 == "/nonexistent-vmtest"' /tmp/opensnoop.out | wc -l)
  all=$(wc -l </tmp/opensnoop.out)
  if [ $ws = 0 ] && [ $ts = 0 ] && [ $present = 2 ] && [ $missing = 3 ] && [ $all = 5 ]; then result opensnoop PASS "$w"
  else result opensnoop FAIL "$w (present=$present missing=$missing lines=$all tool=$ts)"; fi
}

check_exitsnoop() {
  w="exit code 7 of /bin/vmwork with its pid and the shell's ppid"
  start exitsnoop || { result exitsnoop FAIL "$w (did not attach)"; return; }
  sh -c '/bin/vmwork exit 7 & echo "$! $$" >/tmp/exit.ids; wait'
  stop; ts=$?
  read p pp </tmp/exit.ids
  n=$(awk -v p=$p -v pp=$pp '$1 == "vmwork" && $2 == p && $3 == pp && $4 == 7' /tmp/exitsnoop.out | wc -l)
  if [ $ts = 0 ] && [ $n = 1 ]; then result exitsnoop PASS "$w"
  else result exitsnoop FAIL "$w (matching=$n tool=$ts)"; fi
}

check_syscount() {
  w="the workload's syscalls summed over the per-second tables and the final map: 2000 getppid + exit_group = 2001"
  rm -f /tmp/ready; vmwork syscalls /tmp/ready 2000 & wp=$!
  wait_ready /tmp/ready || { result syscount FAIL "$w (workload not ready)"; return; }
  start syscount || { kill $wp; result syscount FAIL "$w (did not attach)"; return; }
  kill -USR1 $wp; wait $wp; ws=$?
  stop; ts=$?
  sum=$(awk -v p=$wp '$1 == p && NF == 2 { s += $2 } $1 == "counts[" p "]:" { s += $2 } END { print s + 0 }' /tmp/syscount.out)
  tables=$(grep -c '^PID      SYSCALLS' /tmp/syscount.out)
  if [ $ws = 0 ] && [ $ts = 0 ] && [ "$sum" = 2001 ]; then result syscount PASS "$w ($tables tables)"
  else result syscount FAIL "$w (sum=$sum tables=$tables tool=$ts)"; fi
}

check_runqlat() {
  w="a usecs histogram holding at least the workload's 20 wakeups (every task counts)"
  start runqlat || { result runqlat FAIL "$w (did not attach)"; return; }
  vmwork sleeps 20 2000; ws=$?
  stop; ts=$?
  total=$(awk '/^\[.*\|/ { sub(/\|.*/, ""); s += $NF } END { print s + 0 }' /tmp/runqlat.out)
  if [ $ws = 0 ] && [ $ts = 0 ] && grep -q '|@' /tmp/runqlat.out && [ "$total" -ge 20 ]; then result runqlat PASS "$w (total $total)"
  else result runqlat FAIL "$w (total=$total tool=$ts)"; fi
}

check_device_filter() {
  w="in a fresh cgroup2 dir: /dev/urandom denied (EPERM), /dev/null allowed; outside it /dev/urandom opens"
  mkdir -p /sys/fs/cgroup/vmtest
  start device_filter --cgroup /sys/fs/cgroup/vmtest || { result device_filter FAIL "$w (did not attach)"; return; }
  sh -c 'echo $$ >/sys/fs/cgroup/vmtest/cgroup.procs; exec /bin/vmwork devopen /dev/urandom'; u=$?
  sh -c 'echo $$ >/sys/fs/cgroup/vmtest/cgroup.procs; exec /bin/vmwork devopen /dev/null'; n=$?
  vmwork devopen /dev/urandom; o=$?
  stop; ts=$?
  if [ $ts = 0 ] && [ $u = 1 ] && [ $n = 0 ] && [ $o = 0 ]; then result device_filter PASS "$w"
  else result device_filter FAIL "$w (urandom=$u null=$n outside=$o tool=$ts)"; fi
}

check_xdp_count() {
  w="XDP on lo: exactly 5 UDP datagrams counted as packets[17]"
  start xdp_count --ifname lo || { result xdp_count FAIL "$w (did not attach)"; return; }
  vmwork udp 5; ws=$?
  stop; ts=$?
  if [ $ws = 0 ] && [ $ts = 0 ] && grep -qx 'packets\[17\]: 5' /tmp/xdp_count.out; then result xdp_count PASS "$w"
  else result xdp_count FAIL "$w (workload=$ws tool=$ts)"; fi
}

check_profile() {
  w="folded stacks of a process spinning 1.5 s in burn_cpu_here: vmwork;...;burn_cpu_here stacks holding 50-160 samples (99 Hz x 1.5 s = 148; seen 130-145; a starved TCG vCPU coalesces timer expiries, hence the low bound)"
  start profile || { result profile FAIL "$w (did not attach)"; return; }
  vmwork burn 1500; ws=$?
  stop; ts=$?
  n=$(awk '$0 ~ /^vmwork;/ && $0 ~ /;burn_cpu_here/ { s += $NF } END { print s + 0 }' /tmp/profile.out)
  if [ $ws = 0 ] && [ $ts = 0 ] && [ "$n" -ge 50 ] && [ "$n" -le 160 ]; then result profile PASS "$w ($n samples)"
  else result profile FAIL "$w (samples=$n tool=$ts)"; fi
}

check_unlinksnoop() {  # fentry + fexit on do_unlinkat (BPF trampolines)
  w="fentry/fexit on do_unlinkat: 4 unlinks with ret 0 and 2 of a missing file with ret -2, pid, comm and filename (BTF-typed args), attempts 6"
  rm -f /tmp/ready; vmwork unlinks /tmp/ready /tmp/ul 4 /tmp/ul-missing 2 & wp=$!
  wait_ready /tmp/ready || { result unlinksnoop FAIL "$w (workload not ready)"; return; }
  start unlinksnoop --target-pid $wp || { kill $wp; result unlinksnoop FAIL "$w (did not attach)"; return; }
  kill -USR1 $wp; wait $wp; ws=$?
  stop; ts=$?
  ok=0
  for i in 0 1 2 3; do
    awk -v p=$wp -v f=/tmp/ul.$i '$1 == p && $2 == "vmwork" && $3 == 0 && $4 == f { n++ } END { exit n != 1 }' /tmp/unlinksnoop.out && ok=$((ok + 1))
  done
  missing=$(awk -v p=$wp '$1 == p && $2 == "vmwork" && $3 == -2 && $4 == "/tmp/ul-missing"' /tmp/unlinksnoop.out | wc -l)
  lines=$(grep -c "^$wp " /tmp/unlinksnoop.out)
  attempts=$(sed -n "s/^attempts\[$wp\]: //p" /tmp/unlinksnoop.out)
  if [ $ws = 0 ] && [ $ts = 0 ] && [ $ok = 4 ] && [ $missing = 2 ] && [ $lines = 6 ] && [ "$attempts" = 6 ]; then result unlinksnoop PASS "$w"
  else result unlinksnoop FAIL "$w (ret0=$ok missing=$missing lines=$lines attempts=$attempts workload=$ws tool=$ts)"; fi
}

check_skeleton() {  # the C skeleton of opencount.rb (gen skel), statically linked with libbpf
  w="opencount's C skeleton (gen skel + libbpf, static): 8 do_sys_openat2 calls and 3 -ENOENT returns of its child"
  out=$(skelmain 2>/tmp/skeleton.err); ts=$?
  echo "$out" >/tmp/skeleton.out
  if [ $ts = 0 ] && [ "$out" = "calls=8 enoent=3 workload=0" ]; then result skeleton PASS "$w"
  else result skeleton FAIL "$w ($out status=$ts)"; fi
}

# killed: 6 rounds each of opencount (kprobes), xdp_count (lo) and
# device_filter (a cgroup), SIGTERM and SIGKILL alternating, each after a
# random 0-99 ms or 0-990 ms (before, during or after attaching); after each: the kernel
# holds as many BPF programs as before the first round (a program still
# attached anywhere stays loaded; freeing is deferred, so up to 3 s are
# allowed), no kprobe event is left in tracefs, /dev/urandom opens in the cgroup.
# execsnoop's exec lines (3 runs of /bin/vmwork from one shell) right: pid, the
# shell as ppid (task_struct's real_parent->tgid through CO-RE), uid, comm.
# Uses start/stop with TOOL; returns 0 when all 3 lines match.
exec_lines_right() {
  tool=$1; shift
  rm -f /tmp/exec.ids
  start "$tool" "$@" || return 2
  sh -c 'for i in 1 2 3; do /bin/vmwork exit 0 & echo "$! $$" >>/tmp/exec.ids; wait; done'
  stop || return 3
  [ "$(awk '$5 == "/bin/vmwork"' /tmp/$tool.out | wc -l)" = 3 ] || return 4
  while read p pp; do
    awk -v p=$p -v pp=$pp '$1 == p && $2 == pp && $3 == 0 && $4 == "vmwork" && $5 == "/bin/vmwork" { f = 1 } END { exit !f }' /tmp/$tool.out || return 5
  done </tmp/exec.ids
}

check_execparents() {  # tp_btf with a BTF-typed argument
  w="tp_btf sched_process_exec: 3 execs of /bin/vmwork counted under their shell's tgid, read as ctx.p.real_parent.tgid (typed argument, CO-RE)"
  start execparents || { result execparents FAIL "$w (did not attach)"; return; }
  sh -c 'echo $$ >/tmp/tp.shell; for i in 1 2 3; do /bin/vmwork exit 0; done'
  stop; ts=$?
  n=$(sed -n "s/^execs\[$(cat /tmp/tp.shell)\]: //p" /tmp/execparents.out)
  if [ $ts = 0 ] && [ "$n" = 3 ]; then result execparents PASS "$w"
  else result execparents FAIL "$w (count=$n tool=$ts)"; fi
}

check_embed_btf() {  # gen loader --embed-btf, with the kernel's own BTF hidden
  release=$(uname -r)
  w="kernel BTF hidden (empty file bound over /sys/kernel/btf/vmlinux): execsnoop embedding both kernels' BTF and the one embedding this kernel's alone print right pid/ppid/comm; the one embedding only the other kernel's exits 1 naming the running release and the embedded one"
  : >/tmp/empty-btf
  mount --bind /tmp/empty-btf /sys/kernel/btf/vmlinux || { result embed_btf FAIL "$w (cannot hide BTF)"; return; }
  bad=""
  exec_lines_right embed_all || bad="$bad embed_all:$?"
  for t in /bin/embed_only.*; do
    t=${t#/bin/}; r=${t#embed_only.}
    if [ "$r" = "$release" ]; then
      exec_lines_right "$t" || bad="$bad $t:$?"
    else
      "/bin/$t" --duration 5 >/tmp/$t.out 2>/tmp/$t.err; st=$?
      [ $st = 1 ] || bad="$bad $t:exit-$st"
      grep -q "this kernel ($release) has no BTF" /tmp/$t.err && grep -q "embedded only for $r;" /tmp/$t.err || bad="$bad $t:message"
      grep -q attached /tmp/$t.err && bad="$bad $t:attached"
      [ -s /tmp/$t.out ] && bad="$bad $t:output"
    fi
  done
  umount /sys/kernel/btf/vmlinux
  if [ -z "$bad" ]; then result embed_btf PASS "$w"
  else
    for f in /tmp/embed_*.err; do tail -n 5 "$f" | sed "s|^|LOG embed_btf ${f#/tmp/}: |"; done
    result embed_btf FAIL "$w:$bad"
  fi
}

# ruby_with TOOL SCRIPT: starts TOOL, runs Debian's ruby on SCRIPT, stops the
# tool; ruby's status in rs, the tool's in ts. Ruby 3.1 with its USDT probes
# enabled now and then crashes ("[BUG]"; bpftrace sees it too): only that
# crash is run again, with a fresh tool (its maps empty), and printed as LOG.
ruby_with() {
  for attempt in 1 2 3; do
    start "$1" || return 1
    /usr/bin/ruby --disable-gems -e "$2" >/tmp/ruby.out 2>&1; rs=$?
    stop; ts=$?
    grep -q '\[BUG\]' /tmp/ruby.out || return 0
    echo "LOG $1: ruby crashed (attempt $attempt, status $rs), run again: $(grep -m1 '\[BUG\]' /tmp/ruby.out)"
  done
  return 1
}

check_ruby_calls() {  # USDT method__entry in libruby
  w="1000 Array#push calls of one Ruby run (USDT in libruby, Debian's ruby 3.1 copied into the guest)"
  ruby_with ruby_calls 'a = []; 1000.times { |i| a.push(i) }' || { result ruby_calls FAIL "$w (did not attach, or ruby crashed 3 times)"; return; }
  n=$(awk '$1 == "Array#push" { print $2 }' /tmp/ruby_calls.out)
  if [ $rs = 0 ] && [ $ts = 0 ] && [ "$n" = 1000 ]; then result ruby_calls PASS "$w"
  else result ruby_calls FAIL "$w (Array#push=$n ruby=$rs tool=$ts)"; fi
}

check_ruby_alloc() {  # USDT object__create
  w="exactly 500 allocations of the workload's own class VmtestThing (USDT object__create, class name read with user_string)"
  ruby_with ruby_alloc 'class VmtestThing; end; 500.times { VmtestThing.new }' || { result ruby_alloc FAIL "$w (did not attach, or ruby crashed 3 times)"; return; }
  n=$(sed -n 's/^allocs\[name=VmtestThing\]: //p' /tmp/ruby_alloc.out)
  if [ $rs = 0 ] && [ $ts = 0 ] && [ "$n" = 500 ]; then result ruby_alloc PASS "$w"
  else result ruby_alloc FAIL "$w (VmtestThing=$n ruby=$rs tool=$ts)"; fi
}

check_ruby_gc() {  # USDT gc__mark/sweep__begin/end
  # Ruby may also collect on its own while it boots, so the count is a floor: the 3 GC.start of the script.
  w="GC mark and sweep histograms after 3 GC.start: each counts at least 3 phases (Ruby may collect on its own too)"
  ruby_with ruby_gc '3.times { GC.start }' || { result ruby_gc FAIL "$w (did not attach, or ruby crashed 3 times)"; return; }
  m=$(awk '/^GC mark/ { s = 1; next } /^GC sweep/ { s = 0 } s && /\|/ { for (i = 2; i <= NF; i++) if ($i ~ /^\|/) { n += $(i - 1); break } } END { print n + 0 }' /tmp/ruby_gc.out)
  sw=$(awk '/^GC sweep/ { s = 1; next } s && /\|/ { for (i = 2; i <= NF; i++) if ($i ~ /^\|/) { n += $(i - 1); break } } END { print n + 0 }' /tmp/ruby_gc.out)
  if [ $rs = 0 ] && [ $ts = 0 ] && [ "$m" -ge 3 ] && [ "$sw" -ge 3 ]; then result ruby_gc PASS "$w"
  else result ruby_gc FAIL "$w (mark=$m sweep=$sw ruby=$rs tool=$ts)"; fi
}

# Not SIGINT: ash starts a background command with SIGINT ignored, and a
# SIGINT that arrives before the loader blocks it (early in its start) is
# then discarded by the kernel, so the loader runs on (seen here; a SIGINT
# after it blocked the signal is taken, which is what stop relies on).
check_killed() {
  w="opencount, xdp_count, device_filter killed (SIGTERM/SIGKILL alternating) at random moments, 6 rounds each: no BPF program left loaded, no kprobe event, no device filter"
  mkdir -p /sys/fs/cgroup/vmkill
  bad="" attached=0 rounds=0
  base=$(vmwork bpfprogs) || { result killed FAIL "$w (cannot count BPF programs)"; return; }
  for r in 1 2 3 4 5 6; do
    sig=TERM; [ $((r % 2)) = 0 ] && sig=KILL
    for t in opencount xdp_count device_filter; do
      case $t in
        opencount) args="--target-pid 1" ;;
        xdp_count) args="--ifname lo" ;;
        device_filter) args="--cgroup /sys/fs/cgroup/vmkill" ;;
      esac
      /bin/$t $args >/tmp/killed.out 2>/tmp/killed.err & tp=$!
      usleep $(( (RANDOM % 100) * (RANDOM % 2 ? 1000 : 10000) ))   # 0-99 ms or 0-990 ms
      kill -$sig $tp 2>/dev/null; reap $tp; st=$?
      [ $st = 124 ] && bad="$bad $t/$sig:still-running-15s-after-the-signal(attached:$(grep -c attached /tmp/killed.err))"
      rounds=$((rounds + 1))
      grep -q attached /tmp/killed.err && attached=$((attached + 1))
      i=0; n=$(vmwork bpfprogs)
      while [ "$n" != "$base" ] && [ $i -lt 30 ]; do usleep 100000; i=$((i + 1)); n=$(vmwork bpfprogs); done
      [ "$n" = "$base" ] || bad="$bad $t/$sig:$n-programs-loaded(before:$base)"
      [ -s /sys/kernel/tracing/kprobe_events ] && bad="$bad $t/$sig:kprobe_events($(tr '\n' ' ' </sys/kernel/tracing/kprobe_events))"
      sh -c 'echo $$ >/sys/fs/cgroup/vmkill/cgroup.procs; exec /bin/vmwork devopen /dev/urandom' || bad="$bad $t/$sig:urandom-denied"
    done
  done
  if [ -z "$bad" ]; then result killed PASS "$w ($attached of $rounds killed after attaching; $base programs before and after)"
  else result killed FAIL "$w:$bad"; fi
}

# bpftrace's one-liner tutorial (Examples/one-liners.md), the lessons this
# kernel runs only here: kretprobe/kprobe on vfs_read, kprobe/fentry on
# vfs_open. BpftraceTutorialTests keeps Tests/VM/tutorial_*.rb the lessons' lines.

# hist_lines FILE HEADER: the histogram under HEADER as "BUCKET COUNT;" pairs.
hist_lines() {
  awk -v h="$2" '$0 == h || $0 == h " " { on = 1; next } on && !/^[[(]/ { on = 0 }
    on { l = $0; sub(/\|.*/, "", l); gsub(/ +/, " ", l); sub(/ $/, "", l); printf "%s;", l }' "$1"
}

check_tutorial_lhist() {  # lesson 6: kretprobe vfs_read, lhist(ret, 0, 2000, 200), one pid
  w="lesson 6, kretprobe vfs_read lhist of one process: reads of 0 1 100 300 300 1000 2500 bytes and one of a bad fd (no vfs_read): [0, 200) 3, [200, 400) 2, [1000, 1200) 1, [2000, ...) 1"
  rm -f /tmp/ready; vmwork reads /tmp/ready 0 1 100 300 300 1000 2500 bad & wp=$!
  wait_ready /tmp/ready || { result tutorial_lhist FAIL "$w (workload not ready)"; return; }
  start tutorial_lhist --target-pid $wp || { kill $wp; result tutorial_lhist FAIL "$w (did not attach)"; return; }
  kill -USR1 $wp; wait $wp; ws=$?
  stop; ts=$?
  got=$(hist_lines /tmp/tutorial_lhist.out '@bytes:')
  want="[0, 200) 3;[200, 400) 2;[400, 600) 0;[600, 800) 0;[800, 1000) 0;[1000, 1200) 1;[1200, 1400) 0;[1400, 1600) 0;[1600, 1800) 0;[1800, 2000) 0;[2000, ...) 1;"
  if [ $ws = 0 ] && [ $ts = 0 ] && [ "$got" = "$want" ]; then result tutorial_lhist PASS "$w"
  else result tutorial_lhist FAIL "$w (got '$got' workload=$ws tool=$ts)"; fi
}

check_tutorial_latency() {  # lesson 7: kprobe + kretprobe vfs_read, @ns[comm].hist
  w="lesson 7, vfs_read latency by process (kprobe + kretprobe): the workload's 7 reads that reach vfs_read under @ns[vmwork]"
  rm -f /tmp/ready; vmwork reads /tmp/ready 0 1 100 300 300 1000 2500 bad & wp=$!
  wait_ready /tmp/ready || { result tutorial_latency FAIL "$w (workload not ready)"; return; }
  start tutorial_latency || { kill $wp; result tutorial_latency FAIL "$w (did not attach)"; return; }
  kill -USR1 $wp; wait $wp; ws=$?
  stop; ts=$?
  n=$(hist_lines /tmp/tutorial_latency.out '@ns[vmwork]:' | tr ';' '\n' | awk 'NF { s += $NF } END { print s + 0 }')
  if [ $ws = 0 ] && [ $ts = 0 ] && [ "$n" = 7 ]; then result tutorial_latency PASS "$w"
  else result tutorial_latency FAIL "$w (reads=$n workload=$ws tool=$ts)"; fi
}

# check_tutorial_open TOOL WHAT: lesson 12 with a kprobe or fentry on vfs_open:
# 5 opens of a present file are 5 "open path: vmtest-present" lines; the 3
# missing ones never reach vfs_open.
check_tutorial_open() {
  w="lesson 12, $2 vfs_open's struct path walked to d_name: 5 opens of /etc/vmtest-present print 'open path: vmtest-present' 5 times, 3 of a missing file none"
  rm -f /tmp/ready; vmwork opens /tmp/ready /etc/vmtest-present 5 /nonexistent-vmtest 3 & wp=$!
  wait_ready /tmp/ready || { result $1 FAIL "$w (workload not ready)"; return; }
  start $1 || { kill $wp; result $1 FAIL "$w (did not attach)"; return; }
  kill -USR1 $wp; wait $wp; ws=$?
  stop; ts=$?
  n=$(grep -cx 'open path: vmtest-present' /tmp/$1.out)
  m=$(grep -c 'nonexistent' /tmp/$1.out)
  if [ $ws = 0 ] && [ $ts = 0 ] && [ "$n" = 5 ] && [ "$m" = 0 ]; then result $1 PASS "$w"
  else result $1 FAIL "$w (present=$n missing=$m workload=$ws tool=$ts)"; fi
}
check_tutorial_struct() { check_tutorial_open tutorial_struct "kprobe + cast(:path, ctx.arg(0)):"; }
check_tutorial_fentry() { check_tutorial_open tutorial_fentry "fentry, the BTF-typed ctx.path:"; }

echo vmtest >/etc/vmtest-present
for c in ${VMTEST_CHECKS:-opencount execsnoop opensnoop exitsnoop syscount runqlat device_filter xdp_count profile skeleton unlinksnoop execparents embed_btf ruby_calls ruby_alloc ruby_gc killed tutorial_lhist tutorial_latency tutorial_struct tutorial_fentry}; do
  check_$c
done
