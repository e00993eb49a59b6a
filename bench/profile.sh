#!/usr/bin/env bash
# Where portico's CPU goes under one load: perf record (cpu-clock, with call
# graphs) on a one-worker portico pinned to CPU 0 while the load runs on
# CPU 1, then the top entries by self time.
#
#   bash bench/profile.sh tls       # h2load over TLS, -c32 -m10, 1 KiB
#   bash bench/profile.sh tls 16k   # the same on a 16 KiB file
#   bash bench/profile.sh h2c [16k] # h2load, cleartext h2, -c32 -m10
#   bash bench/profile.sh close     # wrk, a new HTTP/1.1 connection per request
#   bash bench/profile.sh keepalive # wrk keep-alive
#
# Environment: BENCH_DURATION (default 8 s), PROFILE_TOP (default 25 lines),
# PORTICO_BIN, BENCH_KEEP=1 (keeps perf.data and the report).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-tls}
FILE=${2:-1k}.txt
DURATION=${BENCH_DURATION:-8}
TOP=${PROFILE_TOP:-25}
PY=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tools perf h2load wrk taskset openssl curl
ulimit -n 20000 2>/dev/null || true
find_portico

TMP=$(mktemp -d /tmp/portico-profile.XXXXXX)
declare -A PID
stop_all_on_exit
mkdir -p "$TMP/doc" "$TMP/conf.d"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$TMP/doc/1k.txt"
head -c 16384 /dev/urandom | base64 -w0 | head -c 16384 > "$TMP/doc/16k.txt"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -subj "/CN=localhost" -days 2 2>/dev/null
PORT=$(free_port)
TLS=""
[ "$MODE" = tls ] && TLS="\"host-ssl-cert\": \"$TMP/cert.pem\", \"host-ssl-key\": \"$TMP/key.pem\","
echo '{"global": {"count-threads": 1, "timeout-secs": 120}}' > "$TMP/conf"
cat > "$TMP/conf.d/p" <<EOF
{"vhosts": [{"name": "localhost", "port": $PORT, "interface": "127.0.0.1", $TLS
  "keepalive-timeout": 120, "mounts": [{"mountpoint": "/", "origin": "file://$TMP/doc"}]}]}
EOF
taskset -c "$SERVER_CPU" "$PORTICO" -c "$TMP" -l error 2> "$TMP/stderr.log" &
PID[portico]=$!
wait_port "$PORT" || die "portico did not listen"

case $MODE in
    tls) LOAD=(h2load -D "$DURATION" -c32 -m10 "https://127.0.0.1:$PORT/$FILE") ;;
    h2c) LOAD=(h2load -D "$DURATION" -c32 -m10 "http://127.0.0.1:$PORT/$FILE") ;;
    close) LOAD=(wrk -t1 -c50 -d"${DURATION}s" -H "Connection: close" "http://127.0.0.1:$PORT/$FILE") ;;
    keepalive) LOAD=(wrk -t1 -c50 -d"${DURATION}s" "http://127.0.0.1:$PORT/$FILE") ;;
    *) die "mode: tls, h2c, close or keepalive" ;;
esac
taskset -c "$CLIENT_CPU" "${LOAD[@]}" > /dev/null 2>&1 || true    # warm-up
perf record -q -F 1999 -g -p "${PID[portico]}" -o "$TMP/perf.data" -- sleep "$((DURATION - 1))" &
PERF=$!
taskset -c "$CLIENT_CPU" "${LOAD[@]}" 2>&1 | grep -E "^finished|^requests:|Requests/sec" || true
wait $PERF || true
perf report -i "$TMP/perf.data" --no-children --percent-limit 0.4 --stdio \
    --sort dso,symbol -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n "$TOP" | tee "$TMP/report.txt"
echo "--- by library ---"
perf report -i "$TMP/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
    | grep -E '^ +[0-9]' | head -8
