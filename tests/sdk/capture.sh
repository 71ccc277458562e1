#!/bin/sh
# tests/sdk/capture.sh [OUTDIR] - re-records what the pinned SDK sends and reads:
# cf_capture_server.js (a scripted raw `ws` server) on a free loopback port, and
# cf_client.js --raw against it twice: a session (connect with a token, subscribe,
# subscribe recovering from offset 5, publish, presence, presence_stats, history, rpc,
# unsubscribe) and the pushes (publication with and without offset, join, leave,
# server ping and the SDK's pong). Writes <name>.server.jsonl / <name>.client.jsonl
# into OUTDIR (default tests/sdk/captures). tests/unit/check_cf.c holds these frames.
# Everything it starts ends by itself within 5 s.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/captures}
ver=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).version)' "$here/node_modules/centrifuge/package.json")
mkdir -p "$out"
run() { # name, client args..., stdin script
    name=$1; shift
    srv="$out/sdk-$ver-$name.server.jsonl"
    node "$here/cf_capture_server.js" --exit-after 5000 >"$srv" &
    spid=$!
    i=0
    while ! grep -q listening "$srv" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { kill $spid; echo "capture server did not start" >&2; exit 1; }
        sleep 0.05
    done
    port=$(head -1 "$srv" | tr -cd 0-9)
    printf '%s\n' "$STDIN" | node "$here/cf_client.js" --url "ws://127.0.0.1:$port/connection/websocket" \
        --raw --exit-after 2000 "$@" >"$out/sdk-$ver-$name.client.jsonl"
    wait $spid
}
STDIN='{"op":"publish","channel":"news","data":{"a":1}}
{"op":"presence","channel":"news"}
{"op":"presence_stats","channel":"news"}
{"op":"history","channel":"news","limit":10,"since":{"offset":3,"epoch":"AbCd1234"}}
{"op":"rpc","method":"m","data":{}}'
run session --token T0K --sub news-x --sub feed:user-1:5:AbCd1234
STDIN=''
run pushes --token T0K --sub news --join-leave
echo "captured into $out" >&2
