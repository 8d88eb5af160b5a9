#!/usr/bin/env bash
# Issue 16, where the CPU goes: CPU time and context switches per call of every process of
# `tesserad up` (release build, default configuration) over one wrk run of the shared anchors'
# soap_load.sh, from /proc (utime + stime; voluntary + involuntary switches over all threads),
# read just before and just after the run. "Throughput at 64 on this machine" in
# docs/performance.md is this at 64 connections; at one connection it shows what waking ten
# processes per call costs.
#
#   tests/tools/cpu_per_call.sh [MIX=reserve|mix] [CONNECTIONS=64] [SECONDS=10]
#
# Loopback only (the gateway on 127.0.0.1:8080, which must be free). Everything it starts is
# stopped on exit, also on failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mix=${1:-reserve}
conns=${2:-64}
secs=${3:-10}
tool=cpu_per_call
# shellcheck source=tests/tools/local_cluster.sh
source "$root/tests/tools/local_cluster.sh"

# Per process: PID, role, CPU ticks, context switches.
sample() {
    local p name ticks switches
    while read -r p name; do
        ticks=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
        switches=$(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}')
        echo "$p $name $ticks $switches"
    done < <(cluster_processes)
}

sample >before
MIX=$mix "$load" http://127.0.0.1:8080/ws/reservation "$conns" "$secs" >load.log 2>&1 || true
sample >after
result=$(grep RESULT load.log) || { echo "cpu_per_call: no RESULT from the load"; tail -5 load.log; exit 1; }
echo "$result"
rps=$(sed -E 's/.* rps=([^ ]+).*/\1/' <<<"$result")
python3 - before after "$rps" "$secs" "$(getconf CLK_TCK)" <<'PY'
import sys
def load(path):
    rows = {}
    for line in open(path):
        pid, name, ticks, switches = line.split()
        rows[pid] = (name, int(ticks), int(switches))
    return rows
before, after = load(sys.argv[1]), load(sys.argv[2])
calls = float(sys.argv[3]) * float(sys.argv[4])
hz = int(sys.argv[5])
if calls <= 0:
    sys.exit("cpu_per_call: no calls completed")
rows = []
for pid, (name, ticks, switches) in after.items():
    if pid in before:  # a process replaced during the run is left out
        _, t0, s0 = before[pid]
        rows.append(((ticks - t0) / hz * 1e6 / calls, (switches - s0) / calls, name))
rows.sort(reverse=True)
print(f"{'process':<18} {'CPU us/call':>12} {'switches/call':>14}")
for us, cs, name in rows:
    print(f"{name:<18} {us:12.1f} {cs:14.2f}")
print(f"{'all':<18} {sum(r[0] for r in rows):12.1f} {sum(r[1] for r in rows):14.2f}")
PY
