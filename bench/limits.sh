#!/usr/bin/env bash
# What configured (and not reached) peer-IP limits cost: portico with and
# without them, same run, alternating rounds.  Two scenarios, a 1 KiB file:
#   keepalive  wrk -t1 -c50, keep-alive (S1)
#   newconn    wrk -t1 -c50 with "Connection: close": a connection per
#              request, so accept-time admission is paid every time (S3)
# Limits: ip-limit-wsi, ip-limit-ah, ip-limit-rate (far above the load),
# ip-allow and trusted-proxies (the peer is looked up in both).
# Reported: the median of the rounds for each, and limits/plain ratios of
# req/s and of server CPU per request.
#
# Environment: BENCH_DURATION (default 10), BENCH_WARMUP (2),
# BENCH_ROUNDS (3), BENCH_CONNS (50), PORTICO_BIN, BENCH_KEEP=1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-50}
PY=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools wrk taskset curl
hw_note
find_portico
ulimit -n 20000 2>/dev/null || true

TMP=$(mktemp -d /tmp/portico-limitsbench.XXXXXX)
DOC=$TMP/doc
mkdir -p "$DOC"
head -c 1024 /dev/zero | tr '\0' 'x' > "$DOC/1k.txt"

declare -A PID PORT
declare -A R
stop_all_on_exit

start() {
    local kind=$1 port=$2 d=$TMP/$1 glob vh
    mkdir -p "$d/conf.d"
    glob='"count-threads": 1'
    vh=''
    if [ "$kind" = limits ]; then
        glob="$glob"', "ip-limit-wsi": 10000, "ip-limit-ah": 10000,
          "ip-allow": ["127.0.0.0/8", "::1"], "trusted-proxies": ["10.0.0.0/8"]'
        vh='"ip-limit-rate": 1000000, "ip-limit-burst": 1000000,'
    fi
    echo "{\"global\": {$glob}}" > "$d/conf"
    cat > "$d/conf.d/bench" <<EOF2
{"vhosts": [{"name": "localhost", "port": $port, "interface": "127.0.0.1",
  "keepalive-timeout": 120, $vh
  "mounts": [{"mountpoint": "/", "origin": "file://$DOC"}]}]}
EOF2
    taskset -c $SERVER_CPU "$PORTICO" -c "$d" -l error 2> "$d/stderr.log" &
    PID[$kind]=$!
    PORT[$kind]=$port
    wait_port "$port" || die "$kind did not start: $(cat "$d/stderr.log")"
    curl -sf "http://127.0.0.1:$port/1k.txt" > /dev/null || die "$kind: GET /1k.txt failed"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b + 0 == 0) ? 0 : a / b }'; }

echo "bench: limits cost, ${ROUNDS} rounds x ${DURATION}s, wrk -t1 -c$CONNS; scratch $TMP"
start plain "$(free_port)"
start limits "$(free_port)"
for round in $(seq 1 "$ROUNDS"); do
    for scen in keepalive newconn; do
        if [ $scen = newconn ]; then WRK_ARGS=(-H "Connection: close"); else WRK_ARGS=(); fi
        for kind in plain limits; do
            wrk_measure "$kind" "http://127.0.0.1:${PORT[$kind]}/1k.txt"
            R[$scen,$kind,rps]="${R[$scen,$kind,rps]:-} $W_RPS"
            R[$scen,$kind,cpu]="${R[$scen,$kind,cpu]:-} $W_CPU_US"
            printf 'round %d %-9s %-6s %10s req/s %8s us CPU/req\n' "$round" "$scen" "$kind" \
                "$W_RPS" "$W_CPU_US"
        done
    done
done
echo
printf '%-9s %-6s %12s %12s\n' scenario server "req/s" "CPU us/req"
for scen in keepalive newconn; do
    for kind in plain limits; do
        # shellcheck disable=SC2086
        printf '%-9s %-6s %12s %12s\n' "$scen" "$kind" "$(median ${R[$scen,$kind,rps]})" \
            "$(median ${R[$scen,$kind,cpu]})"
    done
    # shellcheck disable=SC2086
    echo "  limits/plain: req/s $(ratio "$(median ${R[$scen,limits,rps]})" "$(median ${R[$scen,plain,rps]})")," \
         "CPU/req $(ratio "$(median ${R[$scen,limits,cpu]})" "$(median ${R[$scen,plain,cpu]})")" \
         "(goal: CPU/req <= 1.02)"
done
