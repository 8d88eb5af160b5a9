#!/usr/bin/env bash
# Issue 16, "steady memory": the resident memory (VmRSS) of every process of `tesserad up`
# (release build, default configuration) under a long wrk load from the shared anchors'
# soap_load.sh, sampled every minute; at the end, each process's RSS against its value after the
# first minute (target: within 20%). The reserve workload fills one slot with at most 30,000
# reservations (each participant reserves once), so the replicated state stops growing early;
# what keeps growing is the sequencer log on disk and the requests ordered, not the state.
#
#   tests/tools/steady_memory.sh [SECONDS=1200] [CONNECTIONS=64]
#
# Loopback only (the gateway on 127.0.0.1:8080, which must be free). Everything it starts is
# stopped on exit, also on failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-1200}
conns=${2:-64}
tool=steady_memory
# shellcheck source=tests/tools/local_cluster.sh
source "$root/tests/tools/local_cluster.sh"

sample() { # label
    local p name rss
    while read -r p name; do
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        echo "$1 $name $rss"
    done < <(cluster_processes)
}

"$load" http://127.0.0.1:8080/ws/reservation "$conns" "$secs" >load.log 2>&1 &
load_pid=$!
elapsed=0
while kill -0 "$load_pid" 2>/dev/null && (( elapsed < secs + 30 )); do
    sleep 60
    elapsed=$((elapsed + 60))
    sample "$elapsed" | tee -a samples
done
wait "$load_pid" || true
grep RESULT load.log || tail -5 load.log
echo
python3 - "$work/samples" <<'PY'
import sys, collections
first, last = {}, {}
for line in open(sys.argv[1]):
    t, name, kb = line.split()
    t, kb = int(t), int(kb)
    if t == 60:
        first[name] = kb
    last[name] = (t, kb)
ok = True
print(f"{'process':<22} {'after 1 min':>12} {'at the end':>12} {'ratio':>7}")
for name in sorted(first):
    t, kb = last[name]
    ratio = kb / first[name] if first[name] else float("inf")
    ok &= ratio <= 1.2
    print(f"{name:<22} {first[name]/1024:>9.1f} MB {kb/1024:>9.1f} MB {ratio:>7.2f}  (at {t} s)")
print("steady memory:", "every process within 20% of its first-minute RSS" if ok else "SOME PROCESS GREW MORE THAN 20%")
PY
