#!/usr/bin/env bash
# The reverse proxy: wrk -> proxy -> backend, portico beside nginx
# (proxy_pass with an upstream keepalive pool) and haproxy (http-reuse),
# one worker each, in one run.
#
# The backend is nginx serving a 1 KiB file with 1 worker on the load core
# (CPU 1, beside wrk); each proxy runs alone on CPU 0.  Reported per proxy:
# requests/s, the proxy's CPU time per request, and how many connections
# it held open to the backend in the middle of the run.
#
# Then HTTP/2: h2load (h2c, -c10 -m10) -> portico -> backend, with the
# backend spoken to over HTTP/1.1 (nginx) and over HTTP/2 (proxy-h2 to
# nghttpd serving the same file): req/s, portico's CPU per request,
# backend connections.
#
# Environment: BENCH_DURATION (10), BENCH_WARMUP (2), BENCH_CONNS (50),
# BENCH_PROXIES ("portico nginx haproxy"), BENCH_H2_REQS (200000),
# PORTICO_BIN, BENCH_KEEP=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-50}
PROXIES=${BENCH_PROXIES:-"portico nginx haproxy"}
PY=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools wrk taskset curl nginx ss
hw_note
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
find_portico

TMP=$(mktemp -d /tmp/portico-bench-proxy.XXXXXX)
DOC=$TMP/doc
mkdir -p "$DOC"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$DOC/1k.txt"
declare -A PID PORT RPS CPU_US BCONN
stop_all_on_exit

nginx_conf() { # DIR PORT BODY
    mkdir -p "$1/tmp" "$1/logs"
    cat > "$1/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/logs/error.log;
worker_rlimit_nofile 20000;
events { worker_connections 10000; use epoll; }
http {
    access_log off;
    keepalive_timeout 120;
    keepalive_requests 100000000;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    types { text/plain txt; }
    $3
}
EOF
}

BPORT=$(free_port)
nginx_conf "$TMP/backend" "$BPORT" "sendfile on; server { listen 127.0.0.1:$BPORT backlog=4096; root $DOC; }"
taskset -c $CLIENT_CPU nginx -p "$TMP/backend" -c "$TMP/backend/nginx.conf" 2> "$TMP/backend/stderr.log" &
PID[backend]=$!
wait_port "$BPORT" || die "backend nginx did not start"

start_portico() {
    local d=$TMP/portico port=$1
    mkdir -p "$d/conf.d"
    echo '{"global": {"count-threads": 1}}' > "$d/conf"
    cat > "$d/conf.d/bench" <<EOF
{"vhosts": [{"name": "localhost", "port": $port, "interface": "127.0.0.1",
  "keepalive-timeout": 120,
  "mounts": [{"mountpoint": "/", "origin": "http://127.0.0.1:$BPORT"}]}]}
EOF
    taskset -c $SERVER_CPU "$PORTICO" -c "$d" -l error 2> "$d/stderr.log" &
    PID[portico]=$!
}

start_nginx() {
    nginx_conf "$TMP/nginx" "$1" "upstream b { server 127.0.0.1:$BPORT; keepalive 32; }
    server { listen 127.0.0.1:$1 backlog=4096;
        location / { proxy_pass http://b; proxy_http_version 1.1;
                     proxy_set_header Connection \"\"; proxy_buffering on; } }"
    taskset -c $SERVER_CPU nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2> "$TMP/nginx/stderr.log" &
    PID[nginx]=$!
}

start_haproxy() {
    local d=$TMP/haproxy
    mkdir -p "$d"
    cat > "$d/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 9000
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    http-reuse always
frontend f
    bind 127.0.0.1:$1
    default_backend b
backend b
    server s1 127.0.0.1:$BPORT
EOF
    taskset -c $SERVER_CPU haproxy -db -f "$d/haproxy.cfg" > "$d/stderr.log" 2>&1 &
    PID[haproxy]=$!
}

backend_conns() { # connections the proxy holds to the backend port
    ss -Htn state established "( dport = :$BPORT )" | wc -l
}

RAN=()
echo "bench: proxies on CPU $SERVER_CPU; wrk and the backend (nginx, 1 KiB file) on CPU $CLIENT_CPU; ${DURATION}s, $CONNS connections"
for s in $PROXIES; do
    [ "$s" = portico ] || command -v "$s" >/dev/null || { echo "bench: $s not installed, skipped" >&2; continue; }
    PORT[$s]=$(free_port)
    "start_$s" "${PORT[$s]}"
    if ! wait_port "${PORT[$s]}" || [ "$(curl -sf -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:${PORT[$s]}/1k.txt")" != "200 1024" ]; then
        echo "bench: $s: GET /1k.txt through it failed" >&2
        stop_server "$s"
        continue
    fi
    # Connections to the backend, counted in the middle of the measured run.
    (sleep "$((WARMUP + DURATION / 2))"; backend_conns > "$TMP/bconn-$s") &
    wrk_measure "$s" "http://127.0.0.1:${PORT[$s]}/1k.txt"
    RPS[$s]=$W_RPS
    CPU_US[$s]=$W_CPU_US
    BCONN[$s]=$(cat "$TMP/bconn-$s")
    printf '%-8s %12s req/s  %8s us CPU/req  %4s backend connections  (p50 %s, p99 %s)\n' \
        "$s" "$W_RPS" "$W_CPU_US" "${BCONN[$s]}" "$W_P50" "$W_P99"
    stop_server "$s"
    RAN+=("$s")
done

echo
echo "=== summary (proxy to nginx, 1 KiB, wrk -t1 -c$CONNS -d${DURATION}s, 1 proxy worker) ==="
printf '%-8s %12s %12s %10s\n' proxy "req/s" "CPU us/req" "backend"
for s in "${RAN[@]}"; do
    printf '%-8s %12s %12s %10s\n' "$s" "${RPS[$s]}" "${CPU_US[$s]}" "${BCONN[$s]}"
done
if [ -n "${RPS[portico]:-}" ]; then
    for o in nginx haproxy; do
        [ -n "${RPS[$o]:-}" ] || continue
        printf 'portico/%-8s req/s %s  CPU/req %s\n' "$o" \
            "$(awk -v a="${RPS[portico]}" -v b="${RPS[$o]}" 'BEGIN{printf "%.2f", a/b}')" \
            "$(awk -v a="${CPU_US[portico]}" -v b="${CPU_US[$o]}" 'BEGIN{printf "%.2f", a/b}')"
    done
fi

# -- HTTP/2 to portico, HTTP/1.1 or HTTP/2 to the backend ----------------------
command -v h2load >/dev/null || { echo "bench: h2load not installed: HTTP/2 part skipped"; exit 0; }
command -v nghttpd >/dev/null || { echo "bench: nghttpd not installed: HTTP/2 part skipped"; exit 0; }
H2PORT=$(free_port)
mkdir -p "$TMP/nghttpd"
cp "$DOC/1k.txt" "$TMP/nghttpd/"
taskset -c $CLIENT_CPU nghttpd --no-tls -d "$TMP/nghttpd" "$H2PORT" > /dev/null 2>&1 &
PID[nghttpd]=$!
wait_port "$H2PORT" || die "nghttpd did not start"
N=${BENCH_H2_REQS:-200000}
echo
echo "=== HTTP/2 clients (h2load -n $N -c10 -m10, h2c) through portico ==="
for mode in h1 h2; do
    d=$TMP/portico-$mode
    mkdir -p "$d/conf.d"
    port=$(free_port)
    echo '{"global": {"count-threads": 1}}' > "$d/conf"
    if [ $mode = h1 ]; then
        origin="\"origin\": \"http://127.0.0.1:$BPORT\""
        bport=$BPORT
    else
        origin="\"origin\": \"http://127.0.0.1:$H2PORT\", \"proxy-h2\": 1"
        bport=$H2PORT
    fi
    printf '{"vhosts": [{"name": "localhost", "port": %s, "interface": "127.0.0.1",\n  "mounts": [{"mountpoint": "/", %s}]}]}\n' \
        "$port" "$origin" > "$d/conf.d/bench"
    taskset -c $SERVER_CPU "$PORTICO" -c "$d" -l error 2> "$d/stderr.log" &
    PID[p$mode]=$!
    wait_port "$port" || die "portico ($mode upstream) did not start"
    taskset -c "$CLIENT_CPU" h2load -n 2000 -c 10 -m 10 "http://127.0.0.1:$port/1k.txt" > /dev/null
    instr_begin "${PID[p$mode]}"
    t0=$(cpu_ticks "${PID[p$mode]}")
    (sleep 1; ss -Htn state established "( dport = :$bport )" | wc -l > "$TMP/h2conns-$mode") &
    sampler=$!
    out=$(taskset -c "$CLIENT_CPU" h2load -n "$N" -c 10 -m 10 "http://127.0.0.1:$port/1k.txt")
    t1=$(cpu_ticks "${PID[p$mode]}")
    ok=$(echo "$out" | awk '/^requests:/ {print $8}')
    rps=$(echo "$out" | awk '/^finished in/ {print $4}')
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="${ok:-0}" \
        'BEGIN { printf "%.2f", (n > 0) ? d / hz * 1e6 / n : 0 }')
    wait "$sampler"
    instr_end "${ok:-0}"
    printf 'HTTP/%s upstream: %10s req/s  %7s us CPU/req  %s instr/req  %s succeeded  %s backend connection(s)\n' \
        "${mode#h}" "$rps" "$cpu" "$INSTR" "$ok" "$(cat "$TMP/h2conns-$mode")"
    stop_server "p$mode"
done
