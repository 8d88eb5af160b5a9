#!/usr/bin/env bash
# A small LAN on one machine: three network namespaces ("hosts" A, B, C) joined by a bridge
# that lives in a fourth namespace, with real IP multicast between them. Runs a Tessera
# cluster across it (A: sequencer + gateway, B: replica managers 1-2, C: replica managers 3-4)
# from per-host copies of one cluster file, like deploy/three-hosts.toml.
#
#   deploy/netns-lan.sh smoke [TESSERAD]   build the LAN, start the cluster, make SOAP calls
#                                          from host A, check all four replicas agree, tear down
#   deploy/netns-lan.sh failover [TESSERAD]
#                                          a sequencer node on each of A, B and C and the
#                                          gateway on a fourth host D; under a load of calls
#                                          from D, the primary's host loses its link (ip link
#                                          set down), then gets it back: every call answered
#                                          once, a standby took over, the old primary follows
#                                          it, all four replicas agree
#
# The gateway serves HTTPS with authentication, as deploy/three-hosts.toml configures it (a
# `tesserad dev-cert` pair for 10.77.0.1 and one service account stand in for real ones).
#
# Needs root (ip netns). Everything it creates (namespaces, veths, processes, files) is removed
# on exit, also on failure. The addresses (10.77.0.0/24) exist only inside these namespaces.
set -euo pipefail

cmd=${1:-}
[[ $cmd == smoke || $cmd == failover ]] || { echo "usage: $0 smoke|failover [path/to/tesserad]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
tesserad=${2:-}
if [[ -z $tesserad ]]; then
    for t in "$root/target/debug/tesserad" "$root/target/release/tesserad"; do
        [[ -x $t ]] && tesserad=$t && break
    done
fi
[[ -x ${tesserad:-} ]] || { echo "netns-lan: no tesserad binary (cargo build --bins first)" >&2; exit 2; }

tag="tl$(( $$ % 100000 ))"
br="$tag-br"
hosts=(a b c)
[[ $cmd == failover ]] && hosts=(a b c d)
declare -A addr=([a]=10.77.0.1 [b]=10.77.0.2 [c]=10.77.0.3 [d]=10.77.0.4)
work=$(mktemp -d)

cleanup() {
    for ns in "${hosts[@]/#/$tag-}" "$br"; do
        if ip netns list | grep -qw "$ns"; then
            ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

echo "netns-lan: building the LAN ($tag)"
ip netns add "$br"
ip netns exec "$br" ip link add br0 type bridge mcast_snooping 0
ip netns exec "$br" ip link set br0 up
for h in "${hosts[@]}"; do
    ns="$tag-$h"
    ip netns add "$ns"
    ip link add "$tag$h" netns "$ns" type veth peer name "$tag${h}p" netns "$br"
    ip netns exec "$br" ip link set "$tag${h}p" master br0 up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip link set "$tag$h" name eth0
    ip netns exec "$ns" ip addr add "${addr[$h]}/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up multicast on
    ip netns exec "$ns" ip route add 224.0.0.0/4 dev eth0
done

# One cluster file, specialised per host only by the multicast interface (as in production).
cp "$root/deploy/three-hosts.toml" "$work/cluster.toml"
gateway_host=a
if [[ $cmd == failover ]]; then
    # Sequencer nodes 2 and 3 on hosts B and C; the gateway (and its front end) on host D,
    # so that cutting the primary's host off does not cut the clients off.
    gateway_host=d
    sed -i -e 's|10\.0\.0\.1:8443|10.0.0.4:8443|g' -e 's|10\.0\.0\.1:9480|10.0.0.4:9480|' \
        -e 's|^address = "10\.0\.0\.1:0"|address = "10.0.0.4:0"|' "$work/cluster.toml"
    cat >> "$work/cluster.toml" <<'TOML'

[[sequencer.others]]
id = 2
address = "10.0.0.2:7400"

[[sequencer.others]]
id = 3
address = "10.0.0.3:7400"
TOML
fi
for h in "${hosts[@]}"; do
    sed -e "s|^interface = .*|interface = \"${addr[$h]}\"|" \
        -e "s|^data_dir = .*|data_dir = \"$work/data-$h\"|" \
        -e "s|/etc/tessera/|$work/etc/|g" \
        -e "s|10\.0\.0\.|10.77.0.|g" \
        "$work/cluster.toml" > "$work/$h.toml"
done
gateway_ip=${addr[$gateway_host]}
# Every node's key, as three-hosts.toml's comments say (one key directory stands for each
# host's: the namespaces share a filesystem; the cluster file lists no public key, so every
# node reads them from NAME.pub there).
"$tesserad" keygen --config "$work/a.toml" --out "$work/etc/keys" >/dev/null
# The gateway's TLS files and user file, as three-hosts.toml's comments say to make them.
"$tesserad" dev-cert --out "$work/etc/tls" --host "$gateway_ip" >/dev/null
echo "smoke-password" | "$tesserad" user add --users "$work/etc/users" --name smoke --ids '*' >/dev/null
gw=(--cacert "$work/etc/tls/ca.pem")

run() { # host, log name, args...
    local h=$1 log=$2; shift 2
    ip netns exec "$tag-$h" env TESSERA_LOG=warn "$tesserad" "$@" --config "$work/$h.toml" >"$work/$log.log" 2>&1 &
    disown
}
echo "netns-lan: starting the cluster"
run a sequencer sequencer
run "$gateway_host" gateway gateway
run b rm1 rm --id 1
run b rm2 rm --id 2
run c rm3 rm --id 3
run c rm4 rm --id 4
if [[ $cmd == failover ]]; then
    run b sequencer2 sequencer --id 2
    run c sequencer3 sequencer --id 3
fi

soap() { # body
    ip netns exec "$tag-$gateway_host" curl -s --max-time 30 "${gw[@]}" -u smoke:smoke-password "https://$gateway_ip:8443/ws/reservation" -H 'Content-Type: text/xml' --data-binary @- <<XML
<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:r="urn:tessera:reservation:v1"><e:Body>$1</e:Body></e:Envelope>
XML
}

ok=0
for _ in $(seq 1 100); do
    if ip netns exec "$tag-$gateway_host" curl -s --max-time 1 -o /dev/null "${gw[@]}" "https://$gateway_ip:8443/health"; then ok=1; break; fi
    sleep 0.2
done
[[ $ok == 1 ]] || { echo "netns-lan: FAIL gateway did not come up"; tail -n 20 "$work"/*.log; exit 1; }

status_json() {
    ip netns exec "$tag-$gateway_host" "$tesserad" status --json --wait-ms 500 --config "$work/$gateway_host.toml" 2>/dev/null || true
}

if [[ $cmd == failover ]]; then
    # Wait for a primary, make a slot, then cut the primary's host off under load.
    primary=""
    for _ in $(seq 1 100); do
        primary=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1] or "{}"); p=[n["id"] for n in s.get("sequencers",[]) if n["state"]=="primary"]; print(p[0] if len(p)==1 else "")' "$(status_json)")
        [[ -n $primary ]] && break
        sleep 0.2
    done
    [[ -n $primary ]] || { echo "netns-lan: FAIL no sequencer became primary"; tail -n 20 "$work"/*.log; exit 1; }
    phost=$(printf 'abc' | cut -c"$primary")
    add=$(soap '<r:addReservationSlot><r:adminID>MTLA0001</r:adminID><r:eventType>Concerts</r:eventType><r:eventID>MTLE101226</r:eventID><r:capacity>1000</r:capacity></r:addReservationSlot>')
    grep -q '<code>CREATED</code>' <<<"$add" || { echo "netns-lan: FAIL add: $add"; tail -n 20 "$work"/*.log; exit 1; }
    # Four clients, 40 participants each, one reservation per participant: each must be
    # RESERVED exactly once (a repeat would say ALREADY_RESERVED), whatever the failover did.
    for c in 1 2 3 4; do
        (
            for i in $(seq 1 40); do
                p=$(printf 'TORP%04d' $(( c * 100 + i )))
                r=$(soap "<r:reserveTicket><r:participantID>$p</r:participantID><r:eventType>Concerts</r:eventType><r:eventID>MTLE101226</r:eventID></r:reserveTicket>")
                code=$(grep -o '<code>[A-Z_]*</code>' <<<"$r" || echo "<code>NO_ANSWER</code>")
                echo "$(date +%s.%N) $p $code" >> "$work/calls-$c"
                sleep 0.05
            done
        ) &
    done
    sleep 1
    cut_at=$(date +%s.%N)
    echo "netns-lan: sequencer $primary is primary; host ${phost^^} loses its link"
    ip netns exec "$tag-$phost" ip link set eth0 down
    sleep 6
    ip netns exec "$tag-$phost" ip link set eth0 up
    ip netns exec "$tag-$phost" ip route replace 224.0.0.0/4 dev eth0
    echo "netns-lan: host ${phost^^} has its link back"
    wait
    cat "$work"/calls-* > "$work/calls"
    bad=$(grep -vc '<code>RESERVED</code>' "$work/calls" || true)
    total=$(wc -l < "$work/calls")
    [[ $total == 160 && $bad == 0 ]] || { echo "netns-lan: FAIL $bad of $total calls not RESERVED:"; grep -v RESERVED "$work/calls" | head; tail -n 20 "$work"/*.log; exit 1; }
    python3 - "$cut_at" "$work/calls" <<'PY'
import sys
cut = float(sys.argv[1])
ends = sorted(float(l.split()[0]) for l in open(sys.argv[2]))
after = [t for t in ends if t > cut]
gaps = [b - a for a, b in zip([cut] + after, after)]
print(f"netns-lan: the longest time without an answered call after the cut: {max(gaps):.2f} s")
PY
    for _ in $(seq 1 100); do
        status=$(status_json)
        if python3 - "$status" "$primary" <<'PY'
import json, sys
s = json.loads(sys.argv[1] or "{}")
old = int(sys.argv[2])
seqs = {n["id"]: n for n in s.get("sequencers", [])}
primaries = [i for i, n in seqs.items() if n["state"] == "primary"]
r = s.get("replicas", [])
ok = (len(primaries) == 1 and primaries[0] != old and seqs.get(old, {}).get("state") == "standby"
      and len(r) == 4 and all(x["state"] == "up" and x["digest"] for x in r)
      and len({x["digest"] for x in r}) == 1 and len({x["last_seq"] for x in r}) == 1)
sys.exit(0 if ok else 1)
PY
        then
            left=$(soap '<r:listReservationSlotAvailable><r:adminID>MTLA0001</r:adminID><r:eventType>Concerts</r:eventType></r:listReservationSlotAvailable>')
            grep -q '840' <<<"$left" || { echo "netns-lan: FAIL 160 reservations should leave 840 places: $left"; exit 1; }
            echo "netns-lan: PASS all 160 calls answered once across the cut; a standby took over; the old primary follows it; all four replicas agree"
            exit 0
        fi
        sleep 0.2
    done
    echo "netns-lan: FAIL the cluster did not settle after the link came back: $status"
    tail -n 30 "$work"/*.log
    exit 1
fi

add=$(soap '<r:addReservationSlot><r:adminID>MTLA0001</r:adminID><r:eventType>Concerts</r:eventType><r:eventID>MTLE101226</r:eventID><r:capacity>2</r:capacity></r:addReservationSlot>')
grep -q '<code>CREATED</code>' <<<"$add" || { echo "netns-lan: FAIL add: $add"; tail -n 20 "$work"/*.log; exit 1; }
res=$(soap '<r:reserveTicket><r:participantID>TORP0001</r:participantID><r:eventType>Concerts</r:eventType><r:eventID>MTLE101226</r:eventID></r:reserveTicket>')
grep -q '<code>RESERVED</code>' <<<"$res" || { echo "netns-lan: FAIL reserve: $res"; exit 1; }
anon=$(ip netns exec "$tag-a" curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${gw[@]}" "https://$gateway_ip:8443/ws/reservation" -H 'Content-Type: text/xml' --data-binary '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><r:getEventSchedule xmlns:r="urn:tessera:reservation:v1"><r:participantID>TORP0001</r:participantID></r:getEventSchedule></e:Body></e:Envelope>')
[[ $anon == 401 ]] || { echo "netns-lan: FAIL a call without credentials got HTTP $anon, not 401"; exit 1; }
echo "netns-lan: SOAP calls answered across the LAN over HTTPS with authentication"

for _ in $(seq 1 30); do
    status=$(status_json)
    if python3 - "$status" <<'PY'
import json, sys
s = json.loads(sys.argv[1] or "{}")
r = s.get("replicas", [])
ok = len(r) == 4 and all(x["state"] == "up" and x["last_seq"] == 2 and x["digest"] for x in r)
sys.exit(0 if ok and len({x["digest"] for x in r}) == 1 else 1)
PY
    then
        echo "netns-lan: PASS all four replicas on hosts B and C agree at seq 2 (multicast across namespaces)"
        exit 0
    fi
    sleep 0.2
done
echo "netns-lan: FAIL replicas did not converge: $status"
tail -n 20 "$work"/*.log
exit 1
