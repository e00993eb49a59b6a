#!/usr/bin/env bash
# CGI benchmark: portico's cgi:// mount against lighttpd's mod_cgi, running
# the same tiny program (a compiled C CGI, or a /bin/sh one without a C
# compiler) for every request.
#
# Each server runs alone on CPU 0 (taskset; the CGI programs inherit the
# pinning), wrk on CPU 1: wrk -t1 -c8, keep-alive.  Reported per server:
# requests/s and CPU time per request (server + reaped CGI children), then
# the ratio portico/lighttpd.
#
# Environment:
#   BENCH_DURATION  seconds per wrk run (default 10)
#   BENCH_WARMUP    seconds of warm-up per server (default 2)
#   BENCH_CONNS     wrk connections (default 8)
#   BENCH_SERVERS   servers to run (default "portico lighttpd")
#   PORTICO_BIN     portico binary (default build/portico; built in
#                   build-bench/ with CMake Release when missing)
#   BENCH_KEEP=1    keep the temporary directory (configs, logs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-8}
SERVERS=${BENCH_SERVERS:-"portico lighttpd"}
PY=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
URL_PATH=/cgi-bin/hello
EXPECT="hello from cgi"

need_tools wrk taskset curl
hw_note
[ "$(nproc)" -ge 2 ] || echo "bench: warning: fewer than 2 CPUs, pinning overlaps" >&2

find_portico

TMP=$(mktemp -d /tmp/portico-cgibench.XXXXXX)
DOC=$TMP/doc
mkdir -p "$DOC/cgi-bin"
PROG=$DOC/cgi-bin/hello

# -- the tiny program -----------------------------------------------------------
if command -v cc >/dev/null; then
    cat > "$TMP/hello.c" <<'EOF'
#include <string.h>
#include <unistd.h>
int main(void)
{
    static const char out[] = "Content-Type: text/plain\r\n\r\nhello from cgi\n";
    return write(1, out, sizeof out - 1) == (ssize_t)(sizeof out - 1) ? 0 : 1;
}
EOF
    cc -O2 -o "$PROG" "$TMP/hello.c"
    KIND="C program"
else
    printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\nhello from cgi\\n"\n' > "$PROG"
    chmod +x "$PROG"
    KIND="/bin/sh script"
fi

declare -A PID PORT RPS CPU_US
stop_all_on_exit

start_portico() {
    local d=$TMP/portico port=$1
    mkdir -p "$d/conf.d"
    echo '{"global": {"count-threads": 1, "server-string": "portico"}}' > "$d/conf"
    cat > "$d/conf.d/bench" <<EOF
{"vhosts": [{"name": "localhost", "port": $port, "interface": "127.0.0.1",
  "keepalive-timeout": 120,
  "mounts": [{"mountpoint": "/", "origin": "file://$DOC"},
             {"mountpoint": "$URL_PATH", "origin": "cgi://$PROG"}]}]}
EOF
    taskset -c $SERVER_CPU "$PORTICO" -c "$d" -l error 2> "$d/stderr.log" &
    PID[portico]=$!
}

start_lighttpd() {
    local d=$TMP/lighttpd port=$1
    mkdir -p "$d"
    cat > "$d/lighttpd.conf" <<EOF
server.modules = ("mod_cgi")
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
\$HTTP["url"] =~ "^/cgi-bin/" { cgi.assign = ("" => "") }
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
    got=$(curl -sf "http://127.0.0.1:$port$URL_PATH") || {
        echo "bench: $s: GET $URL_PATH failed" >&2; return 1; }
    if [ "$got" != "$EXPECT" ]; then
        echo "bench: $s: GET $URL_PATH gave '$got', want '$EXPECT'" >&2
        return 1
    fi
}

run_wrk() {
    local s=$1
    wrk_measure "$s" "http://127.0.0.1:${PORT[$s]}$URL_PATH" with-children
    RPS[$s]=$W_RPS
    CPU_US[$s]=$W_CPU_US
    printf '%-9s %10s req/s  %8s us CPU/req  (%s requests, p50 %s, p99 %s)\n' \
        "$s" "$W_RPS" "$W_CPU_US" "$W_REQS" "$W_P50" "$W_P99"
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

echo "bench: CGI ($KIND), ${DURATION}s per run, wrk -t1 -c$CONNS, servers on CPU" \
     "$SERVER_CPU, wrk on CPU $CLIENT_CPU; scratch $TMP"
RAN=()
for s in $SERVERS; do
    case $s in
        portico) ;;
        lighttpd) command -v lighttpd >/dev/null || { echo "bench: lighttpd not installed, skipped" >&2; continue; }
                  [ -e /usr/lib/lighttpd/mod_cgi.so ] || { echo "bench: lighttpd mod_cgi missing, skipped" >&2; continue; } ;;
        *) die "unknown server $s" ;;
    esac
    PORT[$s]=$(free_port)
    "start_$s" "${PORT[$s]}"
    if check_server "$s"; then
        run_wrk "$s"
        RAN+=("$s")
    fi
    stop_server "$s"
done

echo
printf '%-9s %12s %14s\n' server "req/s" "CPU us/req"
for s in "${RAN[@]}"; do
    printf '%-9s %12s %14s\n' "$s" "${RPS[$s]}" "${CPU_US[$s]}"
done
if [ -n "${RPS[portico]:-}" ] && [ -n "${RPS[lighttpd]:-}" ]; then
    echo
    echo "portico/lighttpd req/s: $(ratio "${RPS[portico]}" "${RPS[lighttpd]}")" \
         "(>= 1.00: portico is at least as fast)"
    echo "portico/lighttpd CPU/req: $(ratio "${CPU_US[portico]}" "${CPU_US[lighttpd]}")" \
         "(lower is better)"
fi
