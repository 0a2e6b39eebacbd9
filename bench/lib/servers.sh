# bench/lib/servers.sh — config files and start functions for the servers every bench
# script uses: the nginx origin, Switchyard, HAProxy and nginx as a proxy. Each server runs
# in the foreground (no daemon), pinned with taskset, and is stopped by common.sh's trap.
# Requires common.sh (sourced first) and $SWITCHYARD for the Switchyard functions.

# The origin's fixed body: small, the same for every row (about 100 bytes).
ORIGIN_BODY="switchyard bench origin: a small fixed body, the same for every proxy and every row.\n"

# nginx_common_head DIR — the top of every nginx config we write (paths under DIR).
nginx_common_head() {
    local dir=$1 nofile
    nofile=$(ulimit -n)
    mkdir -p "$dir/tmp"
    cat <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile $nofile;
events { worker_connections $((nofile - 100)); }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
CONF
}

# start_origin NAME PORT [PORT2] — nginx, 1 worker, fixed body, keep-alive, on LOAD_CPU.
# With PORT2, a second server block answers there with a body naming the other side
# (bench/flip tells which backend answered from the body). With $ORIGIN_BODY_BYTES set
# (bench/h2 --body-bytes), PORT answers every request with a file of that many bytes
# ("x" throughout) instead of the short text.
start_origin() {
    local name=$1 port=$2 port2=${3:-} dir="$BENCH_WORK/$1" answer
    mkdir -p "$dir"
    answer="location / { default_type text/plain; return 200 \"$ORIGIN_BODY\"; }"
    if [ "${ORIGIN_BODY_BYTES:-0}" -gt 0 ]; then
        mkdir -p "$dir/www"
        head -c "$ORIGIN_BODY_BYTES" /dev/zero | tr '\0' x >"$dir/www/body"
        answer="location / { default_type application/octet-stream; root $dir/www; try_files /body =404; }"
    fi
    {
        nginx_common_head "$dir"
        cat <<CONF
    server {
        listen 127.0.0.1:$port backlog=4096;
        $answer
    }
CONF
        if [ -n "$port2" ]; then
            cat <<CONF
    server {
        listen 127.0.0.1:$port2 backlog=4096;
        location / { default_type text/plain; return 200 "switchyard bench origin, other side\n"; }
    }
CONF
        fi
        echo "}"
    } >"$dir/nginx.conf"
    start_pinned "$name" "$LOAD_CPU" "$BENCH_WORK/$name.log" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
}

# start_nginx_proxy NAME PORT UPSTREAM_PORT — nginx as a reverse proxy, 1 worker, upstream
# keep-alive, logging off, on PROXY_CPU. $NGINX_EXTRA_SERVER, if set, goes in the server block.
start_nginx_proxy() {
    local name=$1 port=$2 upstream=$3 dir="$BENCH_WORK/$1"
    mkdir -p "$dir"
    {
        nginx_common_head "$dir"
        cat <<CONF
    upstream origin {
        server 127.0.0.1:$upstream;
        keepalive 512;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;${NGINX_EXTRA_SERVER:+
        $NGINX_EXTRA_SERVER}
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";${NGINX_EXTRA_LOCATION:+
$NGINX_EXTRA_LOCATION}
        }
    }
}
CONF
    } >"$dir/nginx.conf"
    start_pinned "$name" "$PROXY_CPU" "$BENCH_WORK/$name.log" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
}

# same_headers SCHEME — HAProxy and nginx (start_haproxy, start_nginx_proxy) write the
# request fields Switchyard writes by default: X-Forwarded-For, X-Real-IP, X-Forwarded-Proto,
# X-Forwarded-Host, Forwarded and a 32-hex-digit request ID, the client's copies replaced.
# Without it they forward the client's head alone (76 bytes upstream for h2load's request,
# against our 273): less work than ours. bench/h2 writes the same lines in its own configs.
same_headers() {
    local scheme=$1
    HAPROXY_EXTRA_FRONTEND="    unique-id-format %[rand(4294967295),hex]%[rand(4294967295),hex]
    unique-id-header X-Request-ID"
    HAPROXY_EXTRA_BACKEND="    option forwardfor
    http-request set-header X-Real-IP %[src]
    http-request set-header X-Forwarded-Proto $scheme
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request set-header Forwarded \"for=%[src];proto=$scheme\""
    NGINX_EXTRA_LOCATION='            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header Forwarded "for=$remote_addr;proto=$scheme";
            proxy_set_header X-Request-ID $request_id;'
}

# start_haproxy NAME PORT SERVER_PORT[:WEIGHT]... — HAProxy, nbthread 1, http-reuse always, no
# logging, stats socket at $BENCH_WORK/NAME.sock (level admin), on PROXY_CPU.
# $HAPROXY_EXTRA_DEFAULTS, $HAPROXY_EXTRA_FRONTEND and $HAPROXY_EXTRA_BACKEND, if set, are
# added to their sections (`same_headers` sets the last two).
# Servers are named s1, s2… in the backend "origin".
start_haproxy() {
    local name=$1 port=$2; shift 2
    local cfg="$BENCH_WORK/$name.cfg" i=1 p maxconn
    # HAProxy wants 2 fds per connection it may hold; where the open-files limit cannot be
    # raised that far (containers), "no strict-limits" lets it start with a warning.
    maxconn=$(( $(ulimit -n) - 200 ))
    {
        cat <<CONF
global
    nbthread 1
    maxconn $maxconn
    no strict-limits
    stats socket $BENCH_WORK/$name.sock mode 600 level admin
defaults
    mode http
    maxconn $maxconn
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    http-reuse always${HAPROXY_EXTRA_DEFAULTS:+
$HAPROXY_EXTRA_DEFAULTS}
frontend fe
    bind 127.0.0.1:$port${HAPROXY_EXTRA_FRONTEND:+
$HAPROXY_EXTRA_FRONTEND}
    default_backend origin
backend origin${HAPROXY_EXTRA_BACKEND:+
$HAPROXY_EXTRA_BACKEND}
CONF
        for p in "$@"; do
            case $p in
                *:*) echo "    server s$i 127.0.0.1:${p%%:*} weight ${p#*:}" ;;
                *)   echo "    server s$i 127.0.0.1:$p" ;;
            esac
            i=$((i + 1))
        done
    } >"$cfg"
    start_pinned "$name" "$PROXY_CPU" "$BENCH_WORK/$name.log" haproxy -db -f "$cfg"
}

# switchyard_routes FILE PORT UPSTREAM_PORT — the minimal one-route routes file.
switchyard_routes() {
    cat >"$1" <<CONF
# written by bench/ — one listener, one backend, one route
listen http 127.0.0.1:$2
access-log off
backend origin {
    server 127.0.0.1:$3
}
route app {
    backend origin
}
CONF
}

# switchyard_many_routes FILE PORT UPSTREAM_PORT HOSTS — HOSTS host routes of 100 path prefixes
# each (HOSTS × 100 routes); the last host is 127.0.0.1, the one wrk's requests name, so
# an ordered scan would try every other route first.
switchyard_many_routes() {
    python3 - "$@" <<'PY'
import sys
path, port, upstream, hosts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(path, "w") as f:
    f.write(f"# written by bench/ — {hosts} hosts × 100 path prefixes\n")
    f.write(f"listen http 127.0.0.1:{port}\naccess-log off\nbackend origin {{\n    server 127.0.0.1:{upstream}\n}}\n")
    for h in range(hosts):
        name = "127.0.0.1" if h == hosts - 1 else f"facility{h}.clinic.example"
        for p in range(100):
            prefix = "/" if p == 0 else f"/app{p}/"
            f.write(f"route h{h}p{p} {{\n    host {name}\n    path {prefix}\n    backend origin\n}}\n")
PY
}

# switchyard_tcp_routes FILE HTTP_PORT TCP_PORT UPSTREAM_PORT — a TCP-mode route (bytes
# forwarded, no HTTP parsing): the ceiling row for HTTP mode.
switchyard_tcp_routes() {
    cat >"$1" <<CONF
# written by bench/ — TCP mode: the same backend, bytes only
listen http 127.0.0.1:$2
access-log off
backend origin {
    server 127.0.0.1:$4
}
route bytes {
    mode tcp
    listen 127.0.0.1:$3
    backend origin
}
CONF
}

# start_switchyard NAME ROUTES_FILE ACCESS_LOG(off|PATH) — 1 worker, on PROXY_CPU.
start_switchyard() {
    # BINARY (optional): another build than $SWITCHYARD (bench/compare and bench/h2 --old).
    local name=$1 routes=$2 accesslog=$3 binary=${4:-$SWITCHYARD}
    start_pinned "$name" "$PROXY_CPU" "$BENCH_WORK/$name.log" \
        "$binary" serve "$routes" --workers 1 --access-log "$accesslog" --grace 1
}

# run_wrk PORT CONNECTIONS SECONDS — wrk -t1 on LOAD_CPU; prints one JSON line
# (requests, duration_us, p50_us, p99_us, errors, non2xx…).
run_wrk() {
    local port=$1 conns=$2 secs=$3 out
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s \
        -s "$BENCH_LIB/wrk-report.lua" "http://127.0.0.1:$port/" 2>&1)
    local json
    json=$(printf '%s\n' "$out" | sed -n 's/^JSON //p')
    if [ -z "$json" ]; then
        log "wrk against port $port gave no report:"; printf '%s\n' "$out" | tail -5 >&2
        echo '{"requests":0,"duration_us":1,"failed_run":true}'
        return 1
    fi
    echo "$json"
}

# in_round_order ROUND TARGET... — the targets ("name:port:label") in the order round ROUND
# measures them: on even rounds `switchyard` and `switchyard_old` (`--old`) trade places, so
# neither build always runs first. Which of two runs back to back went first moved their
# ratio by 6–12 % in stop 46's h2 runs (the same two builds, run again in swapped order).
in_round_order() {
    local round=$1; shift
    local -a order=("$@")
    local i new=-1 old=-1 swap
    if (( round % 2 == 0 )); then
        for i in "${!order[@]}"; do
            case ${order[$i]} in
                switchyard:*) new=$i ;;
                switchyard_old:*) old=$i ;;
            esac
        done
        if (( new >= 0 && old >= 0 )); then
            swap=${order[$new]}
            order[$new]=${order[$old]}
            order[$old]=$swap
        fi
    fi
    printf '%s\n' "${order[@]}"
}
