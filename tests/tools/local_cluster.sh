# Sourced by the tools that put wrk load on `tesserad up` (release build, default
# configuration, gateway on 127.0.0.1:8080, which must be free): start it in a fresh working
# directory, wait for its gateway, stop it on exit (also on failure), and list its processes.
# Needs `root` (the repository) and `tool` (the caller's name, for messages) set first.

load="$root/../shared/anchors/soap_load.sh"
[[ -x $load ]] || { echo "$tool: $load not found (the shared anchors beside the repo)" >&2; exit 2; }
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
curl -s --max-time 1 -o /dev/null http://127.0.0.1:8080/health || { echo "$tool: the gateway did not come up"; tail up.log; exit 1; }

descendants() { local p; for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done; }

# Every process under `tesserad up`: "PID ROLE" per line, replicas by their implementation.
cluster_processes() {
    local p
    for p in $(descendants "$up_pid"); do
        echo "$p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | sed -E 's/.*tesserad (sequencer|rm --id [0-9]|gateway|replica --impl [a-z]+).*/\1/; s/ --id /-/; s/replica --impl /replica-/')"
    done
}
