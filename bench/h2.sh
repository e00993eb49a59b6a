#!/usr/bin/env bash
# Where the protocol work dominates: HTTP/2 over TLS and h2c, and a new
# HTTP/1.1 connection per request, for portico, h2o, nginx and lighttpd in
# one run.  All servers run at once, each with one worker/thread pinned to
# CPU 0; the load (h2load, wrk) is pinned to CPU 1.  Scenarios and servers
# are interleaved in rounds; the summary keeps each figure's median.
#
# Scenarios (BENCH_SCENARIOS, default all of them):
#   tls-c32m10-1k   h2load over TLS (ALPN h2), 32 connections x 10 streams, 1 KiB
#   tls-c10m32-1k   10 connections x 32 streams, 1 KiB
#   tls-c32m10-16k  as above, 16 KiB
#   tls-c10m32-16k
#   h2c-c32m10-1k   h2load over cleartext HTTP/2 (prior knowledge)
#   h2c-c32m10-16k
#   h1-close-1k     wrk -c50 with "Connection: close": a new connection per request
#   h1-ka-1k        wrk -c50 keep-alive (the lead to keep)
#
# For each: requests/s and the server's CPU time per request (utime+stime
# of all its processes and threads from /proc, over the measured window,
# divided by the requests completed).  Hardware counters: printed only when
# `perf stat -e instructions` works on this machine (it says so otherwise).
#
# Environment:
#   BENCH_DURATION   seconds per measured run (default 5)
#   BENCH_WARMUP     seconds of warm-up before each (default 1)
#   BENCH_ROUNDS     rounds (default 3)
#   BENCH_SERVERS    default "portico h2o nginx lighttpd"
#   BENCH_SCENARIOS  default: every scenario above
#   PORTICO_BIN      portico binary (default build/portico)
#   BENCH_BASELINE   another portico binary (an older build) to run beside it
#                    as the server "baseline": before/after in one run
#   BENCH_KEEP=1     keep the scratch directory
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-3}
SERVERS=${BENCH_SERVERS:-"portico h2o nginx lighttpd"}
SCENARIOS=${BENCH_SCENARIOS:-"tls-c32m10-1k tls-c10m32-1k tls-c32m10-16k tls-c10m32-16k h2c-c32m10-1k h2c-c32m10-16k h1-close-1k h1-ka-1k"}
CONNS=50
PY=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools wrk h2load taskset curl openssl
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
find_portico

TMP=$(mktemp -d /tmp/portico-h2bench.XXXXXX)
DOC=$TMP/doc
mkdir -p "$DOC"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$DOC/1k.txt"
head -c 16384 /dev/urandom | base64 -w0 | head -c 16384 > "$DOC/16k.txt"
(
    cd "$TMP"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout key.pem -out cert.pem -subj "/CN=localhost" -days 2 \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
)
CERT=$TMP/cert.pem
KEY=$TMP/key.pem

declare -A PID TLS_PORT H2C_PORT H1_PORT RES_RPS RES_CPU
stop_all_on_exit

# Each server listens on three ports: TLS (h2 and http/1.1 by ALPN),
# cleartext h2 with prior knowledge, and cleartext HTTP/1.1.
start_portico() { start_portico_as portico "$PORTICO"; }
start_baseline() { start_portico_as baseline "$BENCH_BASELINE"; }

start_portico_as() {
    local name=$1 bin=$2 d=$TMP/$1
    mkdir -p "$d/conf.d"
    echo '{"global": {"count-threads": 1, "server-string": "portico", "timeout-secs": 120}}' > "$d/conf"
    cat > "$d/conf.d/bench" <<EOF
{"vhosts": [
 {"name": "localhost", "port": ${TLS_PORT[$name]}, "interface": "127.0.0.1",
  "keepalive-timeout": 120, "host-ssl-cert": "$CERT", "host-ssl-key": "$KEY",
  "mounts": [{"mountpoint": "/", "origin": "file://$DOC"}]},
 {"name": "localhost", "port": ${H2C_PORT[$name]}, "interface": "127.0.0.1",
  "keepalive-timeout": 120, "mounts": [{"mountpoint": "/", "origin": "file://$DOC"}]},
 {"name": "localhost", "port": ${H1_PORT[$name]}, "interface": "127.0.0.1",
  "keepalive-timeout": 120, "mounts": [{"mountpoint": "/", "origin": "file://$DOC"}]}]}
EOF
    taskset -c "$SERVER_CPU" "$bin" -c "$d" -l error 2> "$d/stderr.log" &
    PID[$name]=$!
}

start_h2o() {
    local d=$TMP/h2o
    mkdir -p "$d"
    { h2o_conf_head "$d"; cat <<EOF; } > "$d/h2o.conf"
listen:
  host: 127.0.0.1
  port: ${TLS_PORT[h2o]}
  ssl:
    certificate-file: $CERT
    key-file: $KEY
listen:
  host: 127.0.0.1
  port: ${H2C_PORT[h2o]}
listen:
  host: 127.0.0.1
  port: ${H1_PORT[h2o]}
hosts:
  default:
    paths:
      /:
        file.dir: $DOC
EOF
    taskset -c "$SERVER_CPU" h2o -c "$d/h2o.conf" > "$d/stderr.log" 2>&1 &
    PID[h2o]=$!
}

start_nginx() {
    local d=$TMP/nginx
    nginx_conf "$d" <<EOF
    http2_max_requests 100000000;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {
        listen 127.0.0.1:${TLS_PORT[nginx]} ssl http2 backlog=4096;
        listen 127.0.0.1:${H2C_PORT[nginx]} http2 backlog=4096;
        listen 127.0.0.1:${H1_PORT[nginx]} backlog=4096;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        root $DOC;
    }
EOF
    taskset -c "$SERVER_CPU" nginx -p "$d" -c "$d/nginx.conf" 2> "$d/stderr.log" &
    PID[nginx]=$!
}

start_lighttpd() {
    local d=$TMP/lighttpd
    mkdir -p "$d"
    cat > "$d/lighttpd.conf" <<EOF
server.modules = ("mod_openssl")
server.document-root = "$DOC"
server.bind = "127.0.0.1"
server.port = ${H1_PORT[lighttpd]}
server.pid-file = "$d/lighttpd.pid"
server.errorlog = "$d/error.log"
server.max-fds = 20000
server.max-connections = 10000
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle = 120
server.listen-backlog = 4096
server.feature-flags = ("server.h2proto" => "enable", "server.h2c" => "enable")
mimetype.assign = (".txt" => "text/plain", ".html" => "text/html")
\$SERVER["socket"] == "127.0.0.1:${H2C_PORT[lighttpd]}" { }
\$SERVER["socket"] == "127.0.0.1:${TLS_PORT[lighttpd]}" {
    ssl.engine = "enable"
    ssl.pemfile = "$CERT"
    ssl.privkey = "$KEY"
}
EOF
    taskset -c "$SERVER_CPU" lighttpd -D -f "$d/lighttpd.conf" > "$d/stderr.log" 2>&1 &
    PID[lighttpd]=$!
}

# Every server must answer each way before anything is measured.
check_server() {
    local s=$1 got want
    for p in "${TLS_PORT[$s]}" "${H2C_PORT[$s]}" "${H1_PORT[$s]}"; do
        wait_port "$p" || { echo "bench: $s did not listen on $p" >&2; return 1; }
    done
    for f in 1k 16k; do
        want="$([ $f = 1k ] && echo 1024 || echo 16384)"
        got=$(curl -sf --http2 -k -o /dev/null -w '%{http_version} %{http_code} %{size_download}' \
            "https://127.0.0.1:${TLS_PORT[$s]}/$f.txt") || got="failed"
        [ "$got" = "2 200 $want" ] || { echo "bench: $s: TLS h2 /$f.txt gave '$got'" >&2; return 1; }
        got=$(curl -sf --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code} %{size_download}' \
            "http://127.0.0.1:${H2C_PORT[$s]}/$f.txt") || got="failed"
        [ "$got" = "2 200 $want" ] || { echo "bench: $s: h2c /$f.txt gave '$got'" >&2; return 1; }
    done
    got=$(curl -sf -o /dev/null -w '%{http_version} %{http_code} %{size_download}' \
        "http://127.0.0.1:${H1_PORT[$s]}/1k.txt") || got="failed"
    [ "$got" = "1.1 200 1024" ] || { echo "bench: $s: http/1.1 gave '$got'" >&2; return 1; }
}

# measure SERVER SCENARIO: sets M_RPS and M_CPU (µs per request).
measure() {
    local s=$1 sc=$2 kind conns streams file url out t0 t1 n
    IFS=- read -r kind cm file <<< "$sc"
    case $kind in
        tls|h2c)
            conns=${cm#c}; conns=${conns%m*}; streams=${cm#*m}
            if [ "$kind" = tls ]; then
                url="https://127.0.0.1:${TLS_PORT[$s]}/$file.txt"
            else
                url="http://127.0.0.1:${H2C_PORT[$s]}/$file.txt"
            fi
            taskset -c "$CLIENT_CPU" h2load -D "$WARMUP" -c "$conns" -m "$streams" "$url" > /dev/null 2>&1 || true
            instr_begin "${PID[$s]}"
            t0=$(cpu_ticks "${PID[$s]}")
            out=$(taskset -c "$CLIENT_CPU" h2load -D "$DURATION" -c "$conns" -m "$streams" "$url" 2>&1) || true
            t1=$(cpu_ticks "${PID[$s]}")
            n=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
            M_RPS=$(echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
            if ! echo "$out" | grep -q "0 failed, 0 errored"; then
                echo "bench: $s $sc: $(echo "$out" | grep -E '^requests:')" >&2
            fi
            ;;
        h1)
            url="http://127.0.0.1:${H1_PORT[$s]}/$file.txt"
            local -a extra=()
            [ "$cm" = close ] && extra=(-H "Connection: close")
            taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${extra[@]}" "$url" > /dev/null
            instr_begin "${PID[$s]}"
            t0=$(cpu_ticks "${PID[$s]}")
            out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "${extra[@]}" "$url")
            t1=$(cpu_ticks "${PID[$s]}")
            n=$(echo "$out" | awk '/requests in/ {print $1}')
            M_RPS=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
            if echo "$out" | grep -qE "Non-2xx|Socket errors"; then
                echo "bench: $s $sc: $(echo "$out" | grep -E 'Non-2xx|Socket errors' | tr '\n' ' ')" >&2
            fi
            ;;
    esac
    echo "$out" > "$TMP/out-$s-$sc.txt"
    instr_end "${n:-0}"
    M_INSTR=$INSTR
    M_CPU=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="${n:-0}" \
        'BEGIN { printf "%.2f", (n > 0) ? d / hz * 1e6 / n : 0 }')
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }

# -- main ----------------------------------------------------------------------
hw_note
RAN=()
[ -n "${BENCH_BASELINE:-}" ] && SERVERS="baseline $SERVERS"
for s in $SERVERS; do
    if [ "$s" != portico ] && [ "$s" != baseline ] && ! command -v "$s" >/dev/null; then
        echo "bench: $s not installed, skipped" >&2
        continue
    fi
    TLS_PORT[$s]=$(free_port); H2C_PORT[$s]=$(free_port); H1_PORT[$s]=$(free_port)
    "start_$s"
    if ! check_server "$s"; then
        cat "$TMP/$s/"*.log >&2 2>/dev/null || true
        stop_server "$s"
        continue
    fi
    RAN+=("$s")
done
echo "bench: servers ${RAN[*]} on CPU $SERVER_CPU, load on CPU $CLIENT_CPU;" \
     "$ROUNDS rounds of ${DURATION}s; scratch $TMP"

for r in $(seq 1 "$ROUNDS"); do
    for sc in $SCENARIOS; do
        for s in "${RAN[@]}"; do
            measure "$s" "$sc"
            RES_RPS[$s,$sc]="${RES_RPS[$s,$sc]:-} $M_RPS"
            RES_CPU[$s,$sc]="${RES_CPU[$s,$sc]:-} $M_CPU"
            printf 'round %d  %-15s %-9s %10s req/s %7s us/req %9s instr/req\n' "$r" "$sc" "$s" \
                "$M_RPS" "$M_CPU" "$M_INSTR"
        done
    done
done

echo
echo "=== medians of $ROUNDS rounds: req/s and server CPU us/request ==="
printf '%-15s' scenario
for s in "${RAN[@]}"; do printf ' %21s' "$s"; done
for o in "${RAN[@]}"; do [ "$o" = portico ] || printf ' %12s' "cpu p/$o"; done
echo
for sc in $SCENARIOS; do
    printf '%-15s' "$sc"
    for s in "${RAN[@]}"; do
        printf ' %10.0f %10s' "$(echo "${RES_RPS[$s,$sc]}" | median)" \
            "$(echo "${RES_CPU[$s,$sc]}" | median)"
    done
    # Each round's ratio pairs runs made a few seconds apart: its median
    # is steadier than a ratio of medians while the machine's speed drifts.
    for o in "${RAN[@]}"; do
        [ "$o" = portico ] && continue
        printf ' %12s' "$(paste -d' ' <(echo "${RES_CPU[portico,$sc]:-}" | tr ' ' '\n' | grep -v '^$') \
            <(echo "${RES_CPU[$o,$sc]}" | tr ' ' '\n' | grep -v '^$') \
            | awk '$2 > 0 { printf "%.3f ", $1 / $2 }' | median)"
    done
    echo
done
echo "(cpu p/X: the median over rounds of portico's CPU per request / X's in the"
echo " same round; below 1.00 portico spends less)"
