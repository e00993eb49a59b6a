# Shared by the bench/ scripts (sourced): ports, process trees, CPU time,
# stopping servers.  Each script declares `declare -A PID` and sets PY.

die() { echo "bench: $*" >&2; exit 1; }

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
