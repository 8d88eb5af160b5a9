#!/usr/bin/env bash
# anchor_bench.sh: issue 16's yardstick in one run. The gSOAP anchor (../shared/anchors) and
# Tessera (`tesserad up`, default config, release build, a fresh data directory per run) side by
# side, driven by the anchors' soap_load.sh (wrk): reserve and MIX=mix at 64 connections and at
# one, ROUNDS rounds alternating the systems, SECS seconds a run. For the mix, Tessera runs twice:
# with fast reads (the default) and with `[front_end] fast_reads = false` (every call ordered),
# and the gateway's per-operation duration histograms give the mean time of the read share and
# of the writes in each. Prints a line per run and the medians (with ranges) at the end.
# Loopback only; needs wrk, curl, GNU time and the anchor's gsoap/g++ (apt-get install wrk curl
# time gsoap libgsoap-dev g++ pkg-config).
# Usage: tests/tools/anchor_bench.sh [ROUNDS=3] [SECS=10]     (ANCHORS=dir to override)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
SECS=${2:-10}
ANCHORS=$(realpath "${ANCHORS:-../shared/anchors}")
APORT=${ANCHOR_PORT:-18090}
TPORT=${TESSERA_PORT:-18080}
OUT=$(mktemp -d /tmp/anchor_bench.XXXXXX)
ROWS=$OUT/rows

cargo build --release --locked -p tessera-node --bin tesserad
TESSERAD=$PWD/target/release/tesserad

pids=()
TESSERA_PID=
cleanup() {
    for p in "${pids[@]}" $TESSERA_PID; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

wait_http() {  # wait_http URL: up to 60 s for an answer
    for _ in $(seq 600); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    echo "no answer from $1 within 60 s" >&2
    return 1
}

bash "$ANCHORS/gsoap_server.sh" "$APORT" 7200 >"$OUT/anchor.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$APORT/"

# A fresh `tesserad up` with the embedded defaults but for ports, data directory and, when
# $1 is false, fast reads.
start_tessera() {
    local dir
    dir=$(mktemp -d "$OUT/tessera.XXXXXX")
    sed -e "s|^data_dir = .*|data_dir = \"$dir/data\"|" \
        -e "s|^listen = \"127.0.0.1:8080\"|listen = \"127.0.0.1:$TPORT\"|" \
        -e "s|^public_url = .*|public_url = \"http://127.0.0.1:$TPORT/ws/reservation\"|" \
        -e "s|^fast_reads = .*|fast_reads = $1|" \
        deploy/local.toml >"$dir/tessera.toml"
    TESSERA_LOG=warn "$TESSERAD" --config "$dir/tessera.toml" up >"$dir/log" 2>&1 &
    TESSERA_PID=$!
    wait_http "http://127.0.0.1:$TPORT/health"
}

stop_tessera() {
    kill -TERM "$TESSERA_PID" 2>/dev/null || true
    wait "$TESSERA_PID" 2>/dev/null || true
}

# The gateway's duration histogram: "count sum" of the read operations and of the others.
scrape() {
    curl -s --max-time 5 "http://127.0.0.1:$TPORT/metrics" | awk '
        /^tessera_gateway_call_duration_seconds_(sum|count)\{/ {
            read = ($0 ~ /operation="(getEventSchedule|listReservationSlotAvailable)"/)
            kind = ($1 ~ /_sum\{/) ? "sum" : "count"
            v[read, kind] += $2
        }
        END { printf "%d %.6f %d %.6f\n", v[1, "count"], v[1, "sum"], v[0, "count"], v[0, "sum"] }'
}

# run SYSTEM URL MIX CONNS: one soap_load run; appends a row.
run() {
    local system=$1 url=$2 mix=$3 conns=$4 before after result
    [[ $system == anchor ]] || before=$(scrape)
    result=$(MIX=$mix bash "$ANCHORS/soap_load.sh" "$url" "$conns" "$SECS" 2>"$OUT/last.err" | grep '^RESULT') || {
        echo "soap_load failed: $(cat "$OUT/last.err")" >&2
        return 1
    }
    local read_ms=- write_ms=-
    if [[ $system != anchor ]]; then
        after=$(scrape)
        read -r read_ms write_ms < <(awk -v a="$before" -v b="$after" 'BEGIN {
            split(a, x, " "); split(b, y, " ")
            r = "-"; w = "-"
            if (y[1] > x[1]) r = sprintf("%.3f", (y[2] - x[2]) * 1000 / (y[1] - x[1]))
            if (y[3] > x[3]) w = sprintf("%.3f", (y[4] - x[4]) * 1000 / (y[3] - x[3]))
            print r, w }')
    fi
    local rps p50 p99
    rps=$(sed -E 's/.* rps=([^ ]+).*/\1/' <<<"$result")
    p50=$(sed -E 's/.* p50_ms=([^ ]+).*/\1/' <<<"$result")
    p99=$(sed -E 's/.* p99_ms=([^ ]+).*/\1/' <<<"$result")
    local row="$system $mix $conns $rps $p50 $p99 $read_ms $write_ms"
    echo "$row" >>"$ROWS"
    echo "run: $row    ($result)"
}

echo "anchor_bench: $ROUNDS rounds of $SECS s; rows: system mix conns calls/s p50_ms p99_ms read_mean_ms write_mean_ms"
for round in $(seq "$ROUNDS"); do
    echo "== round $round"
    for load in "reserve 64" "mix 64" "reserve 1" "mix 1"; do
        read -r mix conns <<<"$load"
        run anchor "http://127.0.0.1:$APORT/" "$mix" "$conns"
        start_tessera true
        run tessera "http://127.0.0.1:$TPORT/ws/reservation" "$mix" "$conns"
        stop_tessera
        if [[ $mix == mix ]]; then
            start_tessera false
            run tessera-ordered-reads "http://127.0.0.1:$TPORT/ws/reservation" "$mix" "$conns"
            stop_tessera
        fi
    done
done

echo "== medians over $ROUNDS rounds (range)"
python3 - "$ROWS" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    system, mix, conns, *vals = line.split()
    rows.setdefault((mix, int(conns), system), []).append(vals)
names = ["calls/s", "p50 ms", "p99 ms", "read mean ms", "write mean ms"]
def med(col):
    xs = [float(v) for v in col if v != "-"]
    if not xs:
        return "-"
    return f"{statistics.median(xs):g} ({min(xs):g}-{max(xs):g})"
for key in sorted(rows, key=lambda k: (k[0] != "reserve", -k[1], k[2])):
    mix, conns, system = key
    cols = list(zip(*rows[key]))
    print(f"{mix:7} {conns:3} {system:22} " + "  ".join(f"{n}: {med(c)}" for n, c in zip(names, cols)))
anchor = {(m, c): statistics.median(float(v[0]) for v in rows[(m, c, "anchor")]) for (m, c, s) in rows if s == "anchor"}
for (mix, conns, system), vals in sorted(rows.items()):
    if system != "anchor":
        ratio = statistics.median(float(v[0]) for v in vals) / anchor[(mix, conns)]
        print(f"ratio {system} / anchor, {mix} at {conns}: {ratio:.2f}")
for conns in sorted({c for (m, c, s) in rows if m == "mix"}):
    fast = [float(v[3]) for v in rows.get(("mix", conns, "tessera"), []) if v[3] != "-"]
    slow = [float(v[3]) for v in rows.get(("mix", conns, "tessera-ordered-reads"), []) if v[3] != "-"]
    if fast and slow:
        print(f"read share at {conns} conns: mean {statistics.median(slow):g} ms ordered, "
              f"{statistics.median(fast):g} ms fast: {statistics.median(slow) / statistics.median(fast):.2f}x faster")
EOF
echo "rows kept in $ROWS"
