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
load="$root/../shared/anchors/soap_load.sh"
[[ -x $load ]] || { echo "cpu_per_call: $load not found (the shared anchors beside the repo)" >&2; exit 2; }
(cd "$root" && cargo build --release --locked --bins -q)

work=$(mktemp -d)
up_pid=""
cleanup() {
    [[ -n $up_pid ]] && kill "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
"$root/target/release/tesserad" up >up.log 2>&1 &
up_pid=$!
for _ in $(seq 1 150); do
    curl -s --max-time 1 -o /dev/null http://127.0.0.1:8080/health && break
    sleep 0.2
done
curl -s --max-time 1 -o /dev/null http://127.0.0.1:8080/health || { echo "cpu_per_call: the gateway did not come up"; tail up.log; exit 1; }

# Every process under `tesserad up`, named by its role (replicas by their implementation):
# name, CPU ticks, context switches.
descendants() { local p; for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done; }
sample() {
    local p name ticks switches
    for p in $(descendants "$up_pid"); do
        name=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | sed -E 's/.*tesserad (sequencer|rm --id [0-9]|gateway|replica --impl [a-z]+).*/\1/; s/ --id /-/; s/replica --impl /replica-/')
        ticks=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
        switches=$(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}')
        echo "$p $name $ticks $switches"
    done
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
