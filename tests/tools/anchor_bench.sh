#!/usr/bin/env bash
# anchor_bench.sh: issue 16's yardstick in one run. The gSOAP anchor (../shared/anchors) and
# Tessera (`tesserad up`, default config, release build, a fresh data directory per run) side by
# side, driven by the anchors' soap_load.sh (wrk): reserve and MIX=mix at 64 connections and at
# one, ROUNDS rounds alternating the systems, SECS seconds a run. For the mix, Tessera runs twice:
# as configured by default (fast reads while fewer than `fast_reads_max_in_flight` calls are in
# flight) and with `[front_end] fast_reads = false` (every call ordered), in turn first,
# and the gateway's per-operation duration histograms give the mean time of the read share and
# of the writes in each. Prints a line per run and the medians (with ranges) at the end.
# Loopback only; needs wrk, curl, GNU time and the anchor's gsoap/g++ (apt-get install wrk curl
# time gsoap libgsoap-dev g++ pkg-config).
# Usage: tests/tools/anchor_bench.sh [ROUNDS=3] [SECS=10]     (ANCHORS=dir to override;
#        LOADS="mix 64,reserve 1" for a subset of the workloads, "MIX CONNS" comma-separated)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
SECS=${2:-10}
LOADS=${LOADS:-reserve 64,mix 64,reserve 1,mix 1}
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
    # The log level a user gets (`info`), as issue 16 asks: not quieter for the bench.
    env -u TESSERA_LOG -u RUST_LOG "$TESSERAD" --config "$dir/tessera.toml" up >"$dir/log" 2>&1 &
    TESSERA_PID=$!
    wait_http "http://127.0.0.1:$TPORT/health"
}

stop_tessera() {
    kill -TERM "$TESSERA_PID" 2>/dev/null || true
    wait "$TESSERA_PID" 2>/dev/null || true
}

# From the gateway's metrics: "count sum over45ms" of the read operations, the same of the
# others, the front end's fast reads started, those that fell back to ordering and the reads
# ordered at once under load, then
# "le:count" for every bucket of the duration histogram (all operations). The tail count
# (calls over 45 ms, the bucket edge nearest), the fallbacks and the handler's own p99 say
# whether a high p99 from wrk was spent inside the gateway's handler, and on which path.
scrape() {
    curl -s --max-time 5 "http://127.0.0.1:$TPORT/metrics" | awk '
        /^tessera_gateway_call_duration_seconds_(sum|count|bucket)\{/ {
            read = ($0 ~ /operation="(getEventSchedule|listReservationSlotAvailable)"/)
            if ($1 ~ /_sum\{/) v[read, "sum"] += $2
            else if ($1 ~ /_count\{/) { v[read, "count"] += $2; v[read, "slow"] += $2 }
            else if ($1 ~ /le="0\.045036"/) v[read, "slow"] -= $2
            if ($1 ~ /_bucket\{/ && match($1, /le="[0-9.e+-]+"/)) le[substr($1, RSTART + 4, RLENGTH - 5)] += $2
        }
        /^tessera_front_end_fast_reads_total / { fast = $2 }
        /^tessera_front_end_fast_reads_ordered_total / { ordered = $2 }
        /^tessera_front_end_reads_ordered_under_load_total / { under = $2 }
        END {
            printf "%d %.6f %d %d %.6f %d %d %d %d", v[1, "count"], v[1, "sum"], v[1, "slow"],
                v[0, "count"], v[0, "sum"], v[0, "slow"], fast, ordered, under
            for (b in le) printf " %s:%d", b, le[b]
            printf "\n"
        }' | {
        # The buckets ("le:count", the only fields with a colon) in edge order (awk walks
        # its array in no particular order), after the scalars.
        local f x scalars=() buckets=()
        read -r -a f
        for x in "${f[@]}"; do
            if [[ $x == *:* ]]; then buckets+=("$x"); else scalars+=("$x"); fi
        done
        echo "${scalars[*]}" $(printf "%s\n" "${buckets[@]}" | sort -t: -k1,1g)
    }
}

# run SYSTEM URL MIX CONNS: one soap_load run; appends a row.
run() {
    local system=$1 url=$2 mix=$3 conns=$4 before after result
    [[ $system == anchor ]] || before=$(scrape)
    MIX=$mix bash "$ANCHORS/soap_load.sh" "$url" "$conns" "$SECS" >"$OUT/last.out" 2>"$OUT/last.err" || {
        echo "soap_load failed: $(cat "$OUT/last.err")" >&2
        return 1
    }
    result=$(grep '^RESULT' "$OUT/last.out") || {
        echo "soap_load printed no RESULT line: $(tail -5 "$OUT/last.out")" >&2
        return 1
    }
    # wrk's mean latency (its "Latency" line: avg, stdev, max), in ms. With CONNS calls always
    # in flight the mean is CONNS / rate (Little's law), so the p99 over the mean is the shape
    # of the tail apart from the rate.
    local mean
    mean=$(awk '$1 == "Latency" && NF >= 4 { v = $2; u = v; sub(/^[0-9.]+/, "", u); x = v + 0
        printf "%.3f", u == "us" ? x / 1000 : u == "ms" ? x : u == "s" ? x * 1000 : -1; exit }' "$OUT/last.out")
    local read_ms=- write_ms=- slow_reads=- slow_writes=- fast=- fell_back=- under_load=- handler_p99=-
    if [[ $system != anchor ]]; then
        after=$(scrape)
        read -r read_ms write_ms slow_reads slow_writes fast fell_back under_load handler_p99 < <(awk -v a="$before" -v b="$after" 'BEGIN {
            nx = split(a, x, " "); n = split(b, y, " ")
            r = "-"; w = "-"; p = "-"
            if (y[1] > x[1]) r = sprintf("%.3f", (y[2] - x[2]) * 1000 / (y[1] - x[1]))
            if (y[4] > x[4]) w = sprintf("%.3f", (y[5] - x[5]) * 1000 / (y[4] - x[4]))
            # The least bucket edge that holds 99% of the calls of the run: the handler p99 is at
            # most it. (An operation has buckets only once called, so "before" may have fewer.)
            for (i = 1; i <= nx; i++) if (split(x[i], e, ":") == 2) had[e[1]] = e[2]
            calls = y[1] - x[1] + y[4] - x[4]
            for (i = 1; i <= n && calls > 0; i++) {
                if (split(y[i], e, ":") != 2) continue
                if (e[2] - had[e[1]] >= 0.99 * calls) { p = sprintf("%.2f", e[1] * 1000); break }
            }
            print r, w, y[3] - x[3], y[6] - x[6], y[7] - x[7], y[8] - x[8], y[9] - x[9], p }')
    fi
    local rps p50 p99
    rps=$(sed -E 's/.* rps=([^ ]+).*/\1/' <<<"$result")
    p50=$(sed -E 's/.* p50_ms=([^ ]+).*/\1/' <<<"$result")
    p99=$(sed -E 's/.* p99_ms=([^ ]+).*/\1/' <<<"$result")
    local row="$system $mix $conns $rps $p50 $p99 ${mean:--} $read_ms $write_ms $slow_reads $slow_writes $fast $fell_back $under_load $handler_p99"
    echo "$row" >>"$ROWS"
    echo "run: $row    ($result)"
}

echo "anchor_bench: $ROUNDS rounds of $SECS s; rows: system mix conns calls/s p50_ms p99_ms mean_ms read_mean_ms write_mean_ms reads_over_45ms writes_over_45ms fast_reads fell_back reads_ordered_under_load handler_p99_at_most_ms"
for round in $(seq "$ROUNDS"); do
    echo "== round $round"
    IFS=, read -ra loads <<<"$LOADS"
    for load in "${loads[@]}"; do
        read -r mix conns <<<"$load"
        run anchor "http://127.0.0.1:$APORT/" "$mix" "$conns"
        # For the mix, the two Tessera configurations swap places every other round, so
        # that neither always runs right after the anchor.
        configs=(true)
        [[ $mix == mix ]] && configs=(true false)
        ((round % 2 == 0)) && [[ $mix == mix ]] && configs=(false true)
        for fast in "${configs[@]}"; do
            start_tessera "$fast"
            if [[ $fast == true ]]; then system=tessera; else system=tessera-ordered-reads; fi
            run "$system" "http://127.0.0.1:$TPORT/ws/reservation" "$mix" "$conns"
            stop_tessera
        done
    done
done

echo "== medians over $ROUNDS rounds (range)"
python3 - "$ROWS" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    system, mix, conns, *vals = line.split()
    rows.setdefault((mix, int(conns), system), []).append(vals)
names = ["calls/s", "p50 ms", "p99 ms", "mean ms", "read mean ms", "write mean ms", "reads >45 ms", "writes >45 ms", "fast reads", "fell back", "ordered under load", "handler p99 <= ms"]
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
# The tail's shape: p99 / mean latency, by run. At a given shape a p99 within the anchor's needs a
# mean within the anchor's p99 / shape; with CONNS calls in flight the mean is at least CONNS /
# rate (Little's law; wrk's own time between an answer and the next request makes up the rest).
for (mix, conns, system), vals in sorted(rows.items()):
    shapes = [float(v[2]) / float(v[3]) for v in vals if v[3] != "-" and float(v[3]) > 0]
    if conns > 1 and system != "anchor" and shapes and (mix, conns, "anchor") in rows:
        shape = statistics.median(shapes)
        p99 = statistics.median(float(v[2]) for v in rows[(mix, conns, "anchor")])
        mean = statistics.median(float(v[3]) for v in vals if v[3] != "-")
        print(f"tail shape {system}, {mix} at {conns}: p99/mean {shape:.2f}; a p99 within the "
              f"anchor's ({p99:g} ms) at this shape needs a mean of {p99 / shape:.2f} ms "
              f"(now {mean:g}), {conns / (p99 / shape) * 1000:.0f} calls/s or more")
for conns in sorted({c for (m, c, s) in rows if m == "mix"}):
    fast = [float(v[4]) for v in rows.get(("mix", conns, "tessera"), []) if v[4] != "-"]
    slow = [float(v[4]) for v in rows.get(("mix", conns, "tessera-ordered-reads"), []) if v[4] != "-"]
    if fast and slow:
        print(f"read share at {conns} conns: mean {statistics.median(slow):g} ms ordered, "
              f"{statistics.median(fast):g} ms with fast reads on: "
              f"{statistics.median(slow) / statistics.median(fast):.2f}x faster")
EOF
echo "rows kept in $ROWS"
