#!/usr/bin/env bash
# Bounded load test of `leitmotif serve`: 32 concurrent clients search for LM_LOAD_SECONDS (default 5)
# against a database of 200 recordings (the reference recordings' features, copied); every reply
# must be 200. bench/run serve runs the same client longer on a bigger database and reports
# requests/s and latencies. Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"; shared="${2:-}"; src="${3:-}"
work="$(mktemp -d /tmp/lm_cli_serve_load.XXXXXX)"
trap 'kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
pid=""
. "$src/tests/web/common.sh"
need_tools curl
client="$(dirname "$cli")/bench_serve"
[ -x "$client" ] || { echo "SKIP: $client not built"; exit 77; }

make_ref_db "$work/ref.lmdb"
"$client" --replicate "$work/ref.lmdb" 200 "$work/db200.lmdb" 2>"$work/rep.err" || { echo "FAIL replicate: $(cat "$work/rep.err")"; exit 1; }
start_server "$work/db200.lmdb"
http GET "$base/api/info"
expect "200 recordings" "$body" '"documents": 200'
out=$(nice "$client" "$base" -c 32 -d "${LM_LOAD_SECONDS:-5}" 2>"$work/client.err"); rc=$?
echo "$out" | sed 's/^/     /'
cat "$work/client.err" | sed 's/^/     /'
[ $rc = 0 ] && ok "load test client finished" || bad "load test client: rc $rc"
expect "no errors under load" "$out" "^serve_errors 0 count|
serve_errors 0 count"
expect "requests per second reported" "$out" "serve_requests_per_sec [0-9.]+ req/s"
expect "p99 latency reported" "$out" "serve_latency_p99 [0-9.]+ ms"
server_up "the load test"
stop_server
exit $fails
