# Shared by the bench/ scripts (sourced): ports, process trees, CPU time,
# stopping servers.  Each script declares `declare -A PID` and sets PY.

die() { echo "bench: $*" >&2; exit 1; }

# The server on CPU 0, the load on CPU 1; CPU time in clock ticks.
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
HZ=$(getconf CLK_TCK)

# Hardware counters: HW_COUNTERS=1 when `perf stat -e instructions` counts
# on this machine (a VM often has none: perf then says "<not supported>").
HW_COUNTERS=0
if command -v perf >/dev/null &&
   perf stat -x, -e instructions true 2>&1 | grep -q '^[0-9][0-9]*,'; then
    HW_COUNTERS=1
fi

# Says once, at the start of a run, what the CPU figures are.
hw_note() {
    if [ "$HW_COUNTERS" = 1 ]; then
        echo "bench: hardware counters available: instructions per request are measured too"
    else
        echo "bench: no hardware counters on this machine (perf stat -e instructions:" \
             "not supported): CPU time per request only"
    fi
}

# instr_begin PID / instr_end REQUESTS: instructions (user + kernel) of a
# server's processes per request over the span, in INSTR ("-" without
# hardware counters).
instr_begin() {
    INSTR_PID=
    [ "$HW_COUNTERS" = 1 ] || return 0
    perf stat -x, -e instructions -p "$(server_pids "$1" | tr ' ' ',')" \
        -o "$TMP/instr.txt" 2>/dev/null &
    INSTR_PID=$!
    sleep 0.1
}
instr_end() {
    INSTR=-
    [ -n "${INSTR_PID:-}" ] || return 0
    kill -INT "$INSTR_PID" 2>/dev/null || true
    wait "$INSTR_PID" 2>/dev/null || true
    INSTR=$(awk -F, -v n="$1" '/instructions/ && $1 ~ /^[0-9]+$/ && n > 0 {
        printf "%.0f", $1 / n }' "$TMP/instr.txt")
    INSTR=${INSTR:--}
}

# need_tools TOOL...: each must be on PATH.
need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found"
    done
}

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
    local port=$1 _
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# A process and all its descendants (nginx workers, h2o children),
# space-separated.
server_pids() {
    $PY - "$1" <<'PYEOF'
import os, sys
kids = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            s = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        kids.setdefault(int(s[s.rindex(")") + 2:].split()[1]), []).append(int(d))
out, todo = [], [int(sys.argv[1])]
while todo:
    p = todo.pop()
    out.append(p)
    todo += kids.get(p, [])
print(" ".join(map(str, sorted(out))))
PYEOF
}

# utime+stime clock ticks of a server's processes (each /proc/PID/stat
# covers all threads of that process).  With "with-children", also the
# time of children it has reaped (CGI programs).
cpu_ticks() {
    local total=0 pid f fields
    for pid in $(server_pids "$1"); do
        f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        f=${f##*) }
        read -r -a fields <<< "$f"
        # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after comm.
        total=$((total + fields[11] + fields[12]))
        if [ "${2:-}" = with-children ]; then
            total=$((total + fields[13] + fields[14]))
        fi
    done
    echo "$total"
}

stop_server() {
    local s=$1 pid=${PID[$1]:-}
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    unset "PID[$s]"
}

# Stops every server in PID and removes $TMP (unless BENCH_KEEP=1) when
# the script ends, however it ends.
cleanup() {
    local s
    for s in "${!PID[@]}"; do
        stop_server "$s"
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}

stop_all_on_exit() {
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# nginx_conf DIR: writes DIR/nginx.conf, one worker, with the settings
# every script shares (no access log, sendfile, long keep-alive, temp paths
# in DIR); the rest of the http block (ssl_*, server { }) comes on stdin.
nginx_conf() {
    local d=$1
    mkdir -p "$d/tmp" "$d/logs"
    {
        cat <<EOF
user root;
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/logs/error.log;
worker_rlimit_nofile 20000;
events { worker_connections 10000; use epoll; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 120;
    keepalive_requests 100000000;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    types { text/plain txt; text/html html; }
    default_type application/octet-stream;
EOF
        cat
        echo "}"
    } > "$d/nginx.conf"
}

# h2o_conf_head DIR: the start of an h2o.conf every script shares (one
# thread, long timeouts, pid and log in DIR), on stdout.
h2o_conf_head() {
    cat <<EOF
user: root
num-threads: 1
max-connections: 10000
http1-request-timeout: 120
http2-idle-timeout: 120
pid-file: $1/h2o.pid
error-log: $1/error.log
EOF
}

# Sets PORTICO: PORTICO_BIN, else build/portico, else a Release binary
# built in build-bench/.  Needs ROOT.
find_portico() {
    PORTICO=${PORTICO_BIN:-$ROOT/build/portico}
    if [ ! -x "$PORTICO" ]; then
        echo "bench: $PORTICO missing, building a Release binary in build-bench/" >&2
        cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$ROOT/build-bench" -j2 --target portico >/dev/null
        PORTICO=$ROOT/build-bench/portico
    fi
}

# wrk_measure NAME URL [with-children]: a warm-up (WARMUP s), then wrk for
# DURATION s pinned to CLIENT_CPU while the server's CPU ticks are read
# before and after.  Sets W_RPS, W_REQS, W_CPU_US (server CPU per request),
# W_P50, W_P99; keeps wrk's output in $TMP/wrk-NAME.txt; warns about
# non-2xx answers and socket errors.  WRK_ARGS (an array, may be unset):
# more wrk options, e.g. (-H "Connection: close") for a new connection
# per request.
wrk_measure() {
    local s=$1 url=$2 mode=${3:-} out t0 t1
    local -a extra=("${WRK_ARGS[@]+"${WRK_ARGS[@]}"}")
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${extra[@]}" "$url" > /dev/null
    instr_begin "${PID[$s]}"
    t0=$(cpu_ticks "${PID[$s]}" "$mode")
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${extra[@]}" "$url")
    t1=$(cpu_ticks "${PID[$s]}" "$mode")
    echo "$out" > "$TMP/wrk-$s.txt"
    W_REQS=$(echo "$out" | awk '/requests in/ {print $1}')
    W_RPS=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
    W_P50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    W_P99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    if echo "$out" | grep -qE "Non-2xx|Socket errors"; then
        echo "bench: $s: wrk saw errors:" >&2
        echo "$out" | grep -E "Non-2xx|Socket errors" >&2
    fi
    W_CPU_US=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="${W_REQS:-0}" \
        'BEGIN { printf "%.2f", (n > 0) ? d / hz * 1e6 / n : 0 }')
    instr_end "${W_REQS:-0}"
    W_INSTR=$INSTR
    [ "$W_INSTR" = - ] || echo "bench: $s: $W_INSTR instructions per request"
}
