#!/usr/bin/env bash
# Benchmark portico against nginx, h2o and lighttpd on a 1 KiB static file.
#
# Each server runs alone on CPU 0 (taskset), the load generator on CPU 1.
# Reported per server: requests/s (wrk -t1 -c50, keep-alive), server CPU
# time per request (utime+stime of all its processes over the run), and
# the RSS each idle keep-alive connection costs (5,000 connections).
#
# Environment:
#   BENCH_DURATION  seconds per wrk run (default 10)
#   BENCH_WARMUP    seconds of warm-up per server (default 2)
#   BENCH_CONNS     wrk connections (default 50)
#   BENCH_IDLE      idle connections for the memory test (default 5000)
#   BENCH_SERVERS   servers to run (default "portico nginx h2o lighttpd")
#   PORTICO_BIN     portico binary (default build/portico; built in
#                   build-bench/ with CMake Release when missing)
#   BENCH_KEEP=1    keep the temporary directory (configs, logs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-50}
IDLE=${BENCH_IDLE:-5000}
SERVERS=${BENCH_SERVERS:-"portico nginx h2o lighttpd"}
PY=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools wrk taskset curl
hw_note
[ "$(nproc)" -ge 2 ] || echo "bench: warning: fewer than 2 CPUs, pinning overlaps" >&2

# Idle connections need descriptors on both ends.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

find_portico

# -- scratch area and cleanup -------------------------------------------------
TMP=$(mktemp -d /tmp/portico-bench.XXXXXX)
DOC=$TMP/doc
mkdir -p "$DOC"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$DOC/1k.txt"
FILE=/1k.txt

declare -A PID PORT RPS CPU_US IDLE_B
stop_all_on_exit

# -- per-server configuration and start ------------------------------------------
start_portico() {
    local d=$TMP/portico port=$1
    mkdir -p "$d/conf.d"
    cat > "$d/conf" <<EOF
{"global": {"count-threads": 1, "server-string": "portico"}}
EOF
    cat > "$d/conf.d/bench" <<EOF
{"vhosts": [{"name": "localhost", "port": $port, "interface": "127.0.0.1",
  "keepalive-timeout": 120,
  "mounts": [{"mountpoint": "/", "origin": "file://$DOC"}]}]}
EOF
    taskset -c $SERVER_CPU "$PORTICO" -c "$d" -l error 2> "$d/stderr.log" &
    PID[portico]=$!
}

start_nginx() {
    local d=$TMP/nginx port=$1
    nginx_conf "$d" <<EOF
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $DOC;
    }
EOF
    taskset -c $SERVER_CPU nginx -p "$d" -c "$d/nginx.conf" 2> "$d/stderr.log" &
    PID[nginx]=$!
}

start_h2o() {
    local d=$TMP/h2o port=$1
    mkdir -p "$d"
    { h2o_conf_head "$d"; cat <<EOF; } > "$d/h2o.conf"
listen:
  host: 127.0.0.1
  port: $port
hosts:
  default:
    paths:
      /:
        file.dir: $DOC
EOF
    taskset -c $SERVER_CPU h2o -c "$d/h2o.conf" > "$d/stderr.log" 2>&1 &
    PID[h2o]=$!
}

start_lighttpd() {
    local d=$TMP/lighttpd port=$1
    mkdir -p "$d"
    cat > "$d/lighttpd.conf" <<EOF
server.document-root = "$DOC"
server.bind = "127.0.0.1"
server.port = $port
server.pid-file = "$d/lighttpd.pid"
server.errorlog = "$d/error.log"
server.max-fds = 20000
server.max-connections = 10000
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle = 120
server.listen-backlog = 4096
mimetype.assign = (".txt" => "text/plain", ".html" => "text/html")
EOF
    taskset -c $SERVER_CPU lighttpd -D -f "$d/lighttpd.conf" > "$d/stderr.log" 2>&1 &
    PID[lighttpd]=$!
}

check_server() {
    local s=$1 port=${PORT[$1]} got
    if ! wait_port "$port"; then
        echo "bench: $s did not listen on $port" >&2
        cat "$TMP/$s/"*.log >&2 2>/dev/null || true
        return 1
    fi
    got=$(curl -sf -o /dev/null -w '%{http_code} %{size_download}' \
        "http://127.0.0.1:$port$FILE") || { echo "bench: $s: GET $FILE failed" >&2; return 1; }
    if [ "$got" != "200 1024" ]; then
        echo "bench: $s: GET $FILE gave '$got', want '200 1024'" >&2
        return 1
    fi
}

run_wrk() {
    local s=$1
    wrk_measure "$s" "http://127.0.0.1:${PORT[$s]}$FILE"
    RPS[$s]=$W_RPS
    CPU_US[$s]=$W_CPU_US
    printf '%-9s %12s req/s  %8s us CPU/req  (%s requests, p50 %s, p99 %s)\n' \
        "$s" "$W_RPS" "$W_CPU_US" "$W_REQS" "$W_P50" "$W_P99"
}

run_idle() {
    local s=$1 out
    if out=$(taskset -c $CLIENT_CPU $PY "$ROOT/bench/idle_rss.py" \
            --port "${PORT[$s]}" --path "$FILE" --pid "${PID[$s]}" -n "$IDLE"); then
        :
    else
        echo "bench: $s: not every idle connection got its 200: $out" >&2
    fi
    IDLE_B[$s]=$(echo "$out" | sed -n 's/.*per_conn_bytes=\([-0-9.]*\).*/\1/p')
    printf '%-9s %s\n' "$s" "$out"
}

ratio() {
    local a=$1 b=$2
    if [ -n "$a" ] && [ -n "$b" ]; then
        awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'
    else
        echo "-"
    fi
}

# -- main ---------------------------------------------------------------------
echo "bench: ${DURATION}s per run, $CONNS connections, servers on CPU $SERVER_CPU," \
     "wrk on CPU $CLIENT_CPU; scratch $TMP"
RAN=()
for s in $SERVERS; do
    case $s in
        portico|nginx|h2o|lighttpd) ;;
        *) die "unknown server $s" ;;
    esac
    if [ "$s" != portico ] && ! command -v "$s" >/dev/null; then
        echo "bench: $s not installed, skipped" >&2
        continue
    fi
    PORT[$s]=$(free_port)
    "start_$s" "${PORT[$s]}"
    if ! check_server "$s"; then
        stop_server "$s"
        continue
    fi
    run_wrk "$s"
    run_idle "$s"
    stop_server "$s"
    RAN+=("$s")
done

echo
echo "=== summary (1 KiB file, wrk -t1 -c$CONNS -d${DURATION}s, 1 server thread/worker) ==="
printf '%-9s %12s %12s %16s\n' server "req/s" "CPU us/req" "idle B/conn"
for s in "${RAN[@]}"; do
    printf '%-9s %12s %12s %16s\n' "$s" "${RPS[$s]:--}" "${CPU_US[$s]:--}" "${IDLE_B[$s]:--}"
done
if [ -n "${RPS[portico]:-}" ]; then
    echo
    printf '%-18s %10s %12s %12s\n' ratio "req/s" "CPU us/req" "idle B/conn"
    for o in nginx h2o lighttpd; do
        [ -n "${RPS[$o]:-}" ] || continue
        printf '%-18s %10s %12s %12s\n' "portico/$o" \
            "$(ratio "${RPS[portico]}" "${RPS[$o]}")" \
            "$(ratio "${CPU_US[portico]}" "${CPU_US[$o]}")" \
            "$(ratio "${IDLE_B[portico]:-}" "${IDLE_B[$o]:-}")"
    done
fi
