#!/usr/bin/env bash
# TLS and HTTP/2 benchmark: portico against nginx and h2o on a 1 KiB file.
#
# Each server runs alone on CPU 0 (taskset) with one worker/thread, the
# load generator on CPU 1.  Per server:
#   h2load  TLS + h2 (ALPN), many streams per connection:
#           h2load -n $BENCH_H2_REQUESTS -c $BENCH_H2_CONNS -m $BENCH_H2_STREAMS
#   wrk     HTTP/1.1 over TLS, keep-alive: wrk -t1 -c$BENCH_CONNS -d$BENCH_DURATION
#   idle    RSS per idle keep-alive TLS connection ($BENCH_IDLE of them)
# with requests/s and server CPU time per request (utime+stime of all the
# server's processes, from /proc) for both load runs, and the ratios
# portico/nginx and portico/h2o.
#
# Environment:
#   BENCH_DURATION     seconds per wrk run (default 10)
#   BENCH_WARMUP       seconds of wrk warm-up (default 2)
#   BENCH_CONNS        wrk connections (default 50)
#   BENCH_H2_REQUESTS  h2load requests (default 200000)
#   BENCH_H2_CONNS     h2load connections (default 10)
#   BENCH_H2_STREAMS   h2load concurrent streams per connection (default 32)
#   BENCH_IDLE         idle TLS connections for the memory figure (default 2000;
#                      0 skips it)
#   BENCH_SERVERS      servers to run (default "portico nginx h2o")
#   PORTICO_BIN        portico binary (default build/portico)
#   BENCH_KEEP=1       keep the temporary directory (configs, logs, outputs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-50}
H2_N=${BENCH_H2_REQUESTS:-200000}
H2_C=${BENCH_H2_CONNS:-10}
H2_M=${BENCH_H2_STREAMS:-32}
IDLE=${BENCH_IDLE:-2000}
SERVERS=${BENCH_SERVERS:-"portico nginx h2o"}
PY=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools wrk h2load taskset curl openssl
hw_note
[ "$(nproc)" -ge 2 ] || echo "bench: warning: fewer than 2 CPUs, pinning overlaps" >&2
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

PORTICO=${PORTICO_BIN:-$ROOT/build/portico}
if [[ " $SERVERS " == *" portico "* ]] && [ ! -x "$PORTICO" ]; then
    die "$PORTICO missing (build it, or set PORTICO_BIN)"
fi

# -- scratch area: docroot, certificates ------------------------------------------------
TMP=$(mktemp -d /tmp/portico-tlsbench.XXXXXX)
DOC=$TMP/doc
mkdir -p "$DOC"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$DOC/1k.txt"
FILE=/1k.txt

# A throw-away CA and an ECDSA P-256 certificate for localhost; every
# server uses the same key, so the handshake cost is the same for all.
(
    cd "$TMP"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout ca.key -out ca.pem -subj "/CN=bench CA" -days 2 \
        -addext basicConstraints=critical,CA:TRUE 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout key.pem -out cert.csr -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > ext.cnf
    openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -days 2 -extfile ext.cnf -out cert.pem 2>/dev/null
)
CERT=$TMP/cert.pem
KEY=$TMP/key.pem

declare -A PID PORT H2_RPS H2_CPU WRK_RPS WRK_CPU IDLE_B PROTO
stop_all_on_exit

# -- servers ------------------------------------------------------------------------------
start_portico() {
    local d=$TMP/portico port=$1
    mkdir -p "$d/conf.d"
    cat > "$d/conf" <<EOF
{"global": {"count-threads": 1, "server-string": "portico", "timeout-secs": 120}}
EOF
    cat > "$d/conf.d/bench" <<EOF
{"vhosts": [{"name": "localhost", "port": $port, "interface": "127.0.0.1",
  "keepalive-timeout": 120,
  "host-ssl-cert": "$CERT", "host-ssl-key": "$KEY",
  "mounts": [{"mountpoint": "/", "origin": "file://$DOC"}]}]}
EOF
    taskset -c $SERVER_CPU "$PORTICO" -c "$d" -l error 2> "$d/stderr.log" &
    PID[portico]=$!
}

start_nginx() {
    local d=$TMP/nginx port=$1
    nginx_conf "$d" <<EOF
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    server {
        listen 127.0.0.1:$port ssl http2 backlog=4096;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
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
  ssl:
    certificate-file: $CERT
    key-file: $KEY
hosts:
  default:
    paths:
      /:
        file.dir: $DOC
EOF
    taskset -c $SERVER_CPU h2o -c "$d/h2o.conf" > "$d/stderr.log" 2>&1 &
    PID[h2o]=$!
}

check_server() {
    local s=$1 port=${PORT[$1]} got
    if ! wait_port "$port"; then
        echo "bench: $s did not listen on $port" >&2
        cat "$TMP/$s/"*.log >&2 2>/dev/null || true
        return 1
    fi
    got=$(curl -sf --http2 --cacert "$TMP/ca.pem" -o /dev/null \
        -w '%{http_version} %{http_code} %{size_download}' \
        "https://127.0.0.1:$port$FILE") || { echo "bench: $s: GET $FILE over TLS failed" >&2; return 1; }
    if [ "$got" != "2 200 1024" ]; then
        echo "bench: $s: https GET $FILE gave '$got', want '2 200 1024' (h2, 200, 1 KiB)" >&2
        return 1
    fi
}

run_h2load() {
    local s=$1 port=${PORT[$1]} out t0 t1 done_n rps
    taskset -c $CLIENT_CPU h2load -n $((H2_N / 10)) -c "$H2_C" -m "$H2_M" \
        "https://127.0.0.1:$port$FILE" > /dev/null 2>&1 || true
    instr_begin "${PID[$s]}"
    t0=$(cpu_ticks "${PID[$s]}")
    out=$(taskset -c $CLIENT_CPU h2load -n "$H2_N" -c "$H2_C" -m "$H2_M" \
        "https://127.0.0.1:$port$FILE" 2>&1) || true
    t1=$(cpu_ticks "${PID[$s]}")
    echo "$out" > "$TMP/h2load-$s.txt"
    PROTO[$s]="$(echo "$out" | awk '/^TLS Protocol:/ {print $3}') $(echo "$out" \
        | awk '/^Cipher:/ {print $2}')"
    if ! echo "$out" | grep -q "Application protocol: h2$"; then
        echo "bench: $s: h2load did not negotiate h2:" >&2
        echo "$out" | tail -5 >&2
    fi
    done_n=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
    rps=$(echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
    if [ "${done_n:-0}" != "$H2_N" ]; then
        echo "bench: $s: h2load: only ${done_n:-0} of $H2_N requests succeeded" >&2
        echo "$out" | grep -E "^requests:|^status codes:" >&2
    fi
    H2_RPS[$s]=$rps
    H2_CPU[$s]=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="${done_n:-0}" \
        'BEGIN { printf "%.2f", (n > 0) ? d / hz * 1e6 / n : 0 }')
    instr_end "${done_n:-0}"
    printf '%-8s h2load %12s req/s  %8s us CPU/req  %s instr/req  (%s ok; %s)\n' "$s" "$rps" \
        "${H2_CPU[$s]}" "$INSTR" "${done_n:-0}" "$(echo "$out" | grep '^status codes:')"
}

run_wrk() {
    local s=$1
    wrk_measure "$s" "https://127.0.0.1:${PORT[$s]}$FILE"
    WRK_RPS[$s]=$W_RPS
    WRK_CPU[$s]=$W_CPU_US
    printf '%-8s wrk    %12s req/s  %8s us CPU/req  (%s requests, p50 %s, p99 %s)\n' \
        "$s" "$W_RPS" "$W_CPU_US" "$W_REQS" "$W_P50" "$W_P99"
}

# Idle keep-alive TLS connections: each completes one GET (HTTP/1.1), then
# stays open; RSS of the server's processes before and after.
run_idle() {
    local s=$1 out
    [ "$IDLE" -gt 0 ] || return 0
    out=$(taskset -c $CLIENT_CPU $PY - "${PORT[$s]}" "$FILE" "${PID[$s]}" "$IDLE" <<'EOF'
import os, socket, ssl, sys, time
port, path, root, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def pids():
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = open("/proc/%s/stat" % d).read()
            except OSError:
                continue
            parent[int(d)] = int(st[st.rindex(")") + 2:].split()[1])
    out = {root}
    grew = True
    while grew:
        grew = False
        for p, pp in parent.items():
            if pp in out and p not in out:
                out.add(p); grew = True
    return out

def rss_kb():
    total = 0
    for p in pids():
        try:
            for ln in open("/proc/%d/status" % p):
                if ln.startswith("VmRSS:"):
                    total += int(ln.split()[1])
        except OSError:
            pass
    return total

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
req = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode()
time.sleep(0.5)
before = rss_kb()
conns, ok = [], 0
for _ in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    s.sendall(req)
    conns.append(s)
for s in conns:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    ok += data.startswith(b"HTTP/1.1 200")
time.sleep(1)
after = rss_kb()
print("conns=%d ok=%d rss_before_kb=%d rss_after_kb=%d per_conn_bytes=%.0f"
      % (n, ok, before, after, (after - before) * 1024.0 / n))
for s in conns:
    s.close()
sys.exit(0 if ok == n else 1)
EOF
    ) || echo "bench: $s: not every idle TLS connection got its 200: $out" >&2
    IDLE_B[$s]=$(echo "$out" | sed -n 's/.*per_conn_bytes=\([-0-9.]*\).*/\1/p')
    printf '%-8s idle   %s\n' "$s" "$out"
}

ratio() {
    local a=$1 b=$2
    if [ -n "$a" ] && [ -n "$b" ]; then
        awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'
    else
        echo "-"
    fi
}

# -- main -------------------------------------------------------------------------------
echo "bench: TLS, 1 KiB file; h2load -n $H2_N -c $H2_C -m $H2_M; wrk -t1 -c$CONNS" \
     "-d${DURATION}s over https; servers on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU;" \
     "scratch $TMP"
RAN=()
for s in $SERVERS; do
    case $s in
        portico|nginx|h2o) ;;
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
    run_h2load "$s"
    run_wrk "$s"
    run_idle "$s"
    stop_server "$s"
    RAN+=("$s")
done

echo
echo "=== summary (TLS, 1 KiB file, one server worker/thread pinned to CPU $SERVER_CPU) ==="
printf '%-8s %-32s %10s %10s %10s %10s %12s\n' server "TLS (h2load)" "h2 req/s" "h2 us/req" \
    "wrk req/s" "wrk us/req" "idle B/conn"
for s in "${RAN[@]}"; do
    printf '%-8s %-32s %10s %10s %10s %10s %12s\n' "$s" "${PROTO[$s]:--}" \
        "${H2_RPS[$s]:--}" "${H2_CPU[$s]:--}" "${WRK_RPS[$s]:--}" "${WRK_CPU[$s]:--}" \
        "${IDLE_B[$s]:--}"
done
if [ -n "${H2_RPS[portico]:-}${WRK_RPS[portico]:-}" ]; then
    echo
    echo "ratios (req/s: higher is better for portico; us/req and idle: lower is)"
    printf '%-14s %12s %12s %12s %12s %12s\n' ratio "h2 req/s" "h2 us/req" \
        "wrk req/s" "wrk us/req" "idle B/conn"
    for o in nginx h2o; do
        [ -n "${WRK_RPS[$o]:-}${H2_RPS[$o]:-}" ] || continue
        printf '%-14s %12s %12s %12s %12s %12s\n' "portico/$o" \
            "$(ratio "${H2_RPS[portico]:-}" "${H2_RPS[$o]:-}")" \
            "$(ratio "${H2_CPU[portico]:-}" "${H2_CPU[$o]:-}")" \
            "$(ratio "${WRK_RPS[portico]:-}" "${WRK_RPS[$o]:-}")" \
            "$(ratio "${WRK_CPU[portico]:-}" "${WRK_CPU[$o]:-}")" \
            "$(ratio "${IDLE_B[portico]:-}" "${IDLE_B[$o]:-}")"
    done
fi
