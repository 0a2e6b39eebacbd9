# bench/lib/common.sh — shared shell functions for bench/compare, bench/idle and bench/flip.
#
# Source it from a bench script:   . "$(dirname "$0")/lib/common.sh"
# It gives: paths, logging, package installation, the release build of Switchyard,
# servers started pinned to a CPU and stopped by a trap on exit, port checks, CPU time and
# RSS read from /proc, and a description of the machine.
#
# Rules every script follows: loopback only (127.0.0.1), ports 18080–18099, every process
# we start is stopped on exit, runs are bounded in time.

set -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_LIB="$BENCH_DIR/lib"
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
BENCH_WORK=${BENCH_WORK:-/tmp/switchyard-bench}
BENCH_RESULTS="$BENCH_DIR/results"
# The release build lives in its own scratch path so it never collides with debug builds
# in .build (someone may be building and testing there at the same time).
SWITCHYARD_SCRATCH="$REPO_ROOT/.build-release"
CLK_TCK=$(getconf CLK_TCK)

# CPU layout on a 2-core machine: proxies on one core, backend and load generator on the
# other, so the proxy under test never competes with the load it is measured under.
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}

# Ports (all on 127.0.0.1, within 18080–18099).
PORT_SWITCHYARD=18080      # Switchyard, access log off
PORT_BACKEND=18081         # nginx origin (the one backend everybody proxies to)
PORT_SWITCHYARD_LOG=18082  # Switchyard, access log on
PORT_HAPROXY=18083
PORT_NGINX=18084
PORT_SWITCHYARD_TCP=18085  # Switchyard TCP mode (bytes only: the ceiling for HTTP mode)
PORT_SWITCHYARD_TCP_HTTP=18086  # the HTTP listener that instance must have
PORT_BACKEND2=18087        # second origin (the other side of a flip)
PORT_SWITCHYARD_FLIP=18088
PORT_SWITCHYARD_METRICS=18089   # bench/compare --metrics: Switchyard with its metrics listener
PORT_METRICS_LISTENER=18093     # … and that listener, scraped every second
PORT_SWITCHYARD_ROUTES=18094    # bench/compare --routes N: Switchyard with N hosts × 100 prefixes
PORT_SWITCHYARD_OLD=18096       # bench/compare --old BINARY: an older build beside the new one

BENCH_NAME=${BENCH_NAME:-$(basename "$0")}

log()  { printf '%s %s\n' "[$BENCH_NAME]" "$*" >&2; }
die()  { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- packages and build

# ensure_packages PKG... — apt-get install what is missing (as root), else say what to run.
ensure_packages() {
    local missing=() p
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        die "missing Debian packages: ${missing[*]} — run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    fi
    log "installing: ${missing[*]}"
    apt-get update -qq >/dev/null || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

BENCH_PACKAGES=(haproxy nginx wrk nghttp2-client curl socat python3)

# build_switchyard — release build; sets SWITCHYARD. SWITCHYARD_BIN=path skips the build.
build_switchyard() {
    if [ -n "${SWITCHYARD_BIN:-}" ]; then
        SWITCHYARD=$SWITCHYARD_BIN
    else
        log "building Switchyard (release, scratch path .build-release)"
        local t0=$SECONDS
        (cd "$REPO_ROOT" && swift build -c release --scratch-path .build-release --product switchyard \
            >"$BENCH_WORK/build.log" 2>&1) || { tail -40 "$BENCH_WORK/build.log" >&2; die "release build failed (log: $BENCH_WORK/build.log)"; }
        log "build done in $((SECONDS - t0)) s"
        SWITCHYARD="$(cd "$REPO_ROOT" && swift build -c release --scratch-path .build-release --show-bin-path)/switchyard"
    fi
    [ -x "$SWITCHYARD" ] || die "no switchyard binary at $SWITCHYARD"
}

# switchyard_has_command NAME — does `switchyard help` list this subcommand?
switchyard_has_command() {
    "$SWITCHYARD" help 2>&1 | sed -n '/SUBCOMMANDS/,$p' | grep -Eq "^[[:space:]]+$1([[:space:]]|$)"
}

# ---------------------------------------------------------------- work dir, lock, trap

# bench_init — work directory, one bench at a time (flock), cleanup trap.
bench_init() {
    mkdir -p "$BENCH_WORK" "$BENCH_RESULTS"
    exec 9>"$BENCH_WORK/.lock"
    if ! flock -n 9; then
        log "another bench script is running; waiting for it (up to 15 min)"
        flock -w 900 9 || die "could not get $BENCH_WORK/.lock"
    fi
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Processes we started, in start order: "name pid" per entry.
BENCH_PROCS=()

# start_pinned NAME CPU LOGFILE CMD... — start CMD in the background on CPU, remember it.
# The command must stay in the foreground (no daemonizing) so its pid is the one we stop.
start_pinned() {
    local name=$1 cpu=$2 logfile=$3; shift 3
    taskset -c "$cpu" "$@" >"$logfile" 2>&1 &
    local pid=$!
    BENCH_PROCS+=("$name $pid")
    eval "PID_$name=$pid"
}

# pid_of NAME — the pid start_pinned recorded.
pid_of() { eval "echo \${PID_$1:-}"; }

# stop_proc NAME — SIGTERM, wait up to 5 s, then SIGKILL (and its children).
stop_proc() {
    local name=$1 pid
    pid=$(pid_of "$name")
    [ -n "$pid" ] || return 0
    stop_pid "$pid"
    eval "PID_$name="
}

stop_pid() {
    local pid=$1 i kids
    kill -0 "$pid" 2>/dev/null || return 0
    kids=$(child_pids "$pid")
    # Every step may fail (the process is gone already): `|| true`, so that a script run
    # under `set -e` (bench/cpusplit) still stops the rest from its EXIT trap.
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    # Children (nginx workers) normally exit with their master; make sure.
    for i in $kids; do kill -KILL "$i" 2>/dev/null || true; done
    return 0
}

bench_cleanup() {
    local rc=$? i entry
    trap - EXIT INT TERM
    for (( i=${#BENCH_PROCS[@]}-1; i>=0; i-- )); do
        entry=${BENCH_PROCS[$i]}
        stop_pid "${entry#* }"
    done
    exit $rc
}

# ---------------------------------------------------------------- ports

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# require_free_ports PORT... — refuse to start if something already listens there.
require_free_ports() {
    local p
    for p in "$@"; do
        port_open "$p" && die "port $p on 127.0.0.1 is already in use (stale bench run? check with: ss -ltnp 'sport = :$p')"
    done
    return 0
}

# wait_port NAME PORT [SECONDS] — wait until the process listens; fail if it died.
wait_port() {
    local name=$1 port=$2 limit=${3:-15} pid i
    pid=$(pid_of "$name")
    for (( i=0; i<limit*20; i++ )); do
        port_open "$port" && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before listening on $port; its log:"
            tail -20 "$BENCH_WORK/$name.log" >&2 2>/dev/null
            return 1
        fi
        sleep 0.05
    done
    log "$name did not listen on 127.0.0.1:$port within ${limit}s"
    return 1
}

# http_status PORT [PATH] — the status code of one GET (000 when no answer).
http_status() {
    # Three tries: on a machine busy with builds a just-started server can miss one 5 s window
    # (seen once in CI: the nginx origin answered 000, then 200 on a rerun).
    local code=000 try
    for try in 1 2 3; do
        code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$1${2:-/}" 2>/dev/null || true)
        [ "$code" != 000 ] && [ -n "$code" ] && break
        sleep 1
    done
    echo "$code"
}

# ---------------------------------------------------------------- /proc readings

child_pids() {
    cat /proc/"$1"/task/*/children 2>/dev/null
}

# proc_stat_sum PID INDEX... — for each INDEX, the sum over the process and its direct
# children (nginx's worker does the work; its master only waits) of that field of
# /proc/PID/stat, counted from the field after the command name (0: state, 7: minflt,
# 11: utime, 12: stime); one line, the sums in the order asked.
proc_stat_sum() {
    local pid=$1 p stat rest f i
    shift
    local -a sums=()
    for i in "$@"; do sums+=(0); done
    for p in "$pid" $(child_pids "$pid"); do
        stat=$(cat /proc/"$p"/stat 2>/dev/null) || continue
        rest=${stat##*) }
        read -r -a f <<<"$rest"
        i=0
        for field in "$@"; do
            sums[i]=$(( sums[i] + f[field] ))
            i=$(( i + 1 ))
        done
    done
    echo "${sums[*]}"
}

# proc_user_sys PID — "utime stime" (clock ticks) of the process and its direct children.
proc_user_sys() { proc_stat_sum "$1" 11 12; }

# proc_ticks PID — utime+stime (clock ticks), the same processes.
proc_ticks() {
    local u s
    read -r u s < <(proc_user_sys "$1")
    echo $(( u + s ))
}

# proc_rss_kib PID — resident set (KiB) of the process and its direct children.
proc_rss_kib() {
    local total=0 p v
    for p in "$1" $(child_pids "$1"); do
        v=$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null)
        total=$(( total + ${v:-0} ))
    done
    echo "$total"
}

# raise_nofile N — raise the open-files limit of this shell (and what it starts).
raise_nofile() {
    local want=$1
    [ "$(ulimit -n)" -ge "$want" ] 2>/dev/null && return 0
    ulimit -Hn "$want" 2>/dev/null
    ulimit -Sn "$want" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)" 2>/dev/null
    [ "$(ulimit -n)" -ge "$want" ] || log "warning: open-files limit is $(ulimit -n), wanted $want"
}

# ---------------------------------------------------------------- machine and versions

machine_info() {
    local cpu
    cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- host: nproc $(nproc), CPU ${cpu:-unknown}, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
    echo "- kernel: $(uname -srm)"
    echo "- switchyard: $(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$REPO_ROOT" && git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)'), binary $SWITCHYARD; $(swift --version 2>&1 | head -1)"
    echo "- haproxy: $(haproxy -v 2>&1 | awk 'NR==1 {print $3}')"
    echo "- nginx: $(nginx -v 2>&1 | sed 's|.*nginx/||')"
    echo "- wrk: $(wrk -v 2>&1 | awk 'NR==1 {print $2}'); h2load: $(h2load --version 2>&1 | sed 's|.*nghttp2/||')"
    echo "- pinning: proxies on CPU $PROXY_CPU; backend and load generator on CPU $LOAD_CPU"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}
