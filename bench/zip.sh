#!/usr/bin/env bash
# Zip serving benchmark: a deflated 64 KiB member sent as gzip (the
# archive's own deflate bytes, framed) against nginx's gzip_static sending
# the same content precompressed, and against portico serving the plain
# file.  For reference also: portico's own gzip_static, and the member
# inflated on the fly for a client without gzip.
#
# Each server runs alone on CPU 0 (taskset), wrk on CPU 1, keep-alive.
#
# Environment:
#   BENCH_DURATION  seconds per wrk run (default 10)
#   BENCH_WARMUP    seconds of warm-up per run (default 2)
#   BENCH_CONNS     wrk connections (default 50)
#   BENCH_ROUNDS    rounds over all cases, interleaved; each case keeps its
#                   best req/s and lowest CPU/request (default 3): other
#                   load on the machine only ever makes a run look worse
#   PORTICO_BIN     portico binary (default build/portico; built in
#                   build-bench/ with CMake Release when missing)
#   BENCH_KEEP=1    keep the temporary directory (configs, logs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_CONNS:-50}
ROUNDS=${BENCH_ROUNDS:-3}
PY=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"


need_tools wrk taskset curl nginx zip gzip
ulimit -n 20000 2>/dev/null || true

find_portico

TMP=$(mktemp -d /tmp/portico-zipbench.XXXXXX)
DOC=$TMP/doc
mkdir -p "$DOC"
declare -A PID

stop() {
    local pid=${PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID[$1]"
}
cleanup() {
    local s
    for s in "${!PID[@]}"; do stop "$s"; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM



# Instructions per request (user + kernel) when perf works here: unlike
# time, it does not change with other load on the machine.
PERF=$HW_COUNTERS
hw_note



# -- the content: 64 KiB like minified JavaScript (gzip -9 makes it about
# 24 KiB, the ratio of jquery.min.js), its .gz, a zip (zip -9) ------------
$PY - "$DOC/asset.txt" <<'EOF'
import random, sys
rnd = random.Random(64)
vocab = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 9)))
         for _ in range(100)]
ops = ["=", "+", "(", ")", "{", "}", ";", ",", ".", "==", "&&", "return ", "function ", "var "]
out = bytearray()
while len(out) < 65536:
    t = rnd.random()
    if t < 0.6:
        out += rnd.choice(vocab).encode()
    elif t < 0.85:
        out += rnd.choice(ops).encode()
    elif t < 0.93:
        out += str(rnd.randint(0, 999)).encode()
    else:
        out += b"\n" if rnd.random() < 0.3 else b" "
open(sys.argv[1], "wb").write(out[:65536])
EOF
gzip -9 -k -n "$DOC/asset.txt"
(cd "$DOC" && zip -q -9 site.zip asset.txt)
SIZE=$(stat -c %s "$DOC/asset.txt")
GZSIZE=$(stat -c %s "$DOC/asset.txt.gz")
echo "bench: asset.txt $SIZE bytes, asset.txt.gz $GZSIZE bytes (gzip -9)," \
     "zip member $(unzip -v "$DOC/site.zip" | awk '/asset.txt/ {print $3}') bytes deflated (zip -9)"

# -- servers ---------------------------------------------------------------
PPORT=$(free_port)
mkdir -p "$TMP/portico/conf.d"
echo '{"global": {"count-threads": 1, "server-string": "portico"}}' > "$TMP/portico/conf"
cat > "$TMP/portico/conf.d/bench" <<EOF
{"vhosts": [{"name": "localhost", "port": $PPORT, "interface": "127.0.0.1",
  "keepalive-timeout": 120,
  "mounts": [{"mountpoint": "/", "origin": "file://$DOC"},
             {"mountpoint": "/z", "origin": "file://$DOC/site.zip"}]}]}
EOF
taskset -c $SERVER_CPU "$PORTICO" -c "$TMP/portico" -l error 2> "$TMP/portico/stderr.log" &
PID[portico]=$!

NPORT=$(free_port)
nginx_conf "$TMP/nginx" <<EOF
    gzip_static on;
    gzip_vary on;
    server {
        listen 127.0.0.1:$NPORT backlog=4096;
        root $DOC;
    }
EOF
taskset -c $SERVER_CPU nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2> "$TMP/nginx/stderr.log" &
PID[nginx]=$!

wait_port "$PPORT" || die "portico did not start: $(cat "$TMP/portico/stderr.log")"
wait_port "$NPORT" || die "nginx did not start: $(cat "$TMP/nginx/stderr.log")"

# -- checks: every case serves what it should --------------------------------
check() {  # name url accept-encoding expected-encoding expected-bytes
    local got
    got=$(curl -s -o "$TMP/check.out" -H "Accept-Encoding: $3" \
        -w '%{http_code} %header{content-encoding} %{size_download}' "$2")
    [ "$got" = "200 $4 $5" ] || die "$1: $2 gave '$got', want '200 $4 $5'"
    if [ "$4" = gzip ]; then
        gzip -dc < "$TMP/check.out" | cmp -s - "$DOC/asset.txt" || die "$1: body does not gunzip to asset.txt"
    else
        cmp -s "$TMP/check.out" "$DOC/asset.txt" || die "$1: body differs from asset.txt"
    fi
}
ZIPGZ=$(( $(unzip -v "$DOC/site.zip" | awk '/asset.txt/ {print $3}') + 18 ))
check zip-gzip "http://127.0.0.1:$PPORT/z/asset.txt" gzip gzip "$ZIPGZ"
check nginx-gzip-static "http://127.0.0.1:$NPORT/asset.txt" gzip gzip "$GZSIZE"
check portico-plain "http://127.0.0.1:$PPORT/asset.txt" identity "" "$SIZE"
check portico-gzip-static "http://127.0.0.1:$PPORT/asset.txt" gzip gzip "$GZSIZE"
check zip-inflate "http://127.0.0.1:$PPORT/z/asset.txt" identity "" "$SIZE"

# -- runs ------------------------------------------------------------------
declare -A RPS CPU INS
run() {  # name server url accept-encoding
    local name=$1 server=$2 url=$3 ae=$4 out t0 t1 reqs rps cpu perfpid ins=""
    taskset -c $CLIENT_CPU wrk -t1 -c"$CONNS" -d"${WARMUP}s" -H "Accept-Encoding: $ae" "$url" >/dev/null
    if [ "$PERF" = 1 ]; then
        perf stat -x, -e instructions -p "$(server_pids "${PID[$server]}" | tr " " ",")" \
            -o "$TMP/perf-$name.txt" -- sleep $((DURATION + 1)) &
        perfpid=$!
        sleep 0.2
    fi
    t0=$(cpu_ticks "${PID[$server]}")
    out=$(taskset -c $CLIENT_CPU wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
        -H "Accept-Encoding: $ae" "$url")
    t1=$(cpu_ticks "${PID[$server]}")
    echo "$out" > "$TMP/wrk-$name.txt"
    if echo "$out" | grep -qE "Non-2xx|Socket errors"; then
        echo "bench: $name: wrk saw errors:" >&2
        echo "$out" | grep -E "Non-2xx|Socket errors" >&2
    fi
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$reqs" \
        'BEGIN { printf "%.2f", (n > 0) ? d / hz * 1e6 / n : 0 }')
    RPS[$name]=$(awk -v a="${RPS[$name]:-0}" -v b="$rps" 'BEGIN { print (b > a) ? b : a }')
    CPU[$name]=$(awk -v a="${CPU[$name]:-1e9}" -v b="$cpu" 'BEGIN { print (b < a) ? b : a }')
    if [ "$PERF" = 1 ]; then
        wait "$perfpid" || true
        ins=$(awk -F, -v n="$reqs" '/instructions/ && $1 ~ /^[0-9]+$/ { printf "%.0f", $1 / n }' \
            "$TMP/perf-$name.txt")
        [ -n "$ins" ] && INS[$name]=$(awk -v a="${INS[$name]:-1e12}" -v b="$ins" 'BEGIN { print (b < a) ? b : a }')
    fi
    printf '%-20s %12s req/s  %8s us CPU/req %9s instr/req  (p50 %s, p99 %s)\n' "$name" "$rps" "$cpu" "${ins:--}" \
        "$(echo "$out" | awk '$1 == "50%" {print $2}')" \
        "$(echo "$out" | awk '$1 == "99%" {print $2}')"
}

echo "bench: ${DURATION}s per run, $CONNS connections, servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
for r in $(seq 1 "$ROUNDS"); do
    echo "-- round $r of $ROUNDS"
    run zip-gzip portico "http://127.0.0.1:$PPORT/z/asset.txt" gzip
    run nginx-gzip-static nginx "http://127.0.0.1:$NPORT/asset.txt" gzip
    run portico-plain portico "http://127.0.0.1:$PPORT/asset.txt" identity
    run portico-gzip-static portico "http://127.0.0.1:$PPORT/asset.txt" gzip
    run zip-inflate portico "http://127.0.0.1:$PPORT/z/asset.txt" identity
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
echo
echo "=== summary (64 KiB asset, wrk -t1 -c$CONNS -d${DURATION}s, 1 server thread/worker, best of $ROUNDS) ==="
printf '%-36s %12s %12s %12s\n' case "req/s" "CPU us/req" "instr/req"
for n in zip-gzip nginx-gzip-static portico-plain portico-gzip-static zip-inflate; do
    printf '%-36s %12s %12s %12s\n' "$n" "${RPS[$n]}" "${CPU[$n]}" "${INS[$n]:--}"
done
echo
printf '%-36s %8s %12s %12s\n' ratio "req/s" "CPU us/req" "instr/req"
printf '%-36s %8s %12s %12s\n' "zip gzip / nginx gzip_static" \
    "$(ratio "${RPS[zip-gzip]}" "${RPS[nginx-gzip-static]}")" \
    "$(ratio "${CPU[zip-gzip]}" "${CPU[nginx-gzip-static]}")" \
    "$(ratio "${INS[zip-gzip]:-}" "${INS[nginx-gzip-static]:-}")"
printf '%-36s %8s %12s %12s\n' "zip gzip / portico plain file" \
    "$(ratio "${RPS[zip-gzip]}" "${RPS[portico-plain]}")" \
    "$(ratio "${CPU[zip-gzip]}" "${CPU[portico-plain]}")" \
    "$(ratio "${INS[zip-gzip]:-}" "${INS[portico-plain]:-}")"
printf '%-36s %8s %12s %12s\n' "portico gzip_static / nginx" \
    "$(ratio "${RPS[portico-gzip-static]}" "${RPS[nginx-gzip-static]}")" \
    "$(ratio "${CPU[portico-gzip-static]}" "${CPU[nginx-gzip-static]}")" \
    "$(ratio "${INS[portico-gzip-static]:-}" "${INS[nginx-gzip-static]:-}")"
printf '%-36s %8s %12s %12s\n' "zip inflate / portico plain file" \
    "$(ratio "${RPS[zip-inflate]}" "${RPS[portico-plain]}")" \
    "$(ratio "${CPU[zip-inflate]}" "${CPU[portico-plain]}")" \
    "$(ratio "${INS[zip-inflate]:-}" "${INS[portico-plain]:-}")"
