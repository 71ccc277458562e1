# scripts/lib.sh - the shell helpers every Pulse script shares; source it, do not run it.
# bench/bench.sh, loadtest/run_loadtest.sh and loadtest/cluster.sh use it for what each
# once wrote by hand: free loopback ports, a throwaway redis-server, waiting for a ready
# line, the gateway's ready line, stopping a process by PID, and the build directory of
# a build type. Nothing here kills by name or touches a process it was not given.
#
#   . "$ROOT/scripts/lib.sh"
#
# Functions (all bounded in time; none exits the caller):
#   pulse_port_in_use PORT [HOST]     0 when something accepts on HOST:PORT (127.0.0.1)
#   pulse_free_port [HOST]            prints a port nobody listens on (200 tries)
#   pulse_alive PID                   0 while PID runs (a zombie does not)
#   pulse_stop_pid PID [SIG [TENTHS]] SIG (TERM), then SIGKILL after TENTHS/10 s (50);
#                                     reaps it when it is our child
#   pulse_wait_line FILE ERE SECS [PID]  prints the first line of FILE matching ERE;
#                                     fails after SECS or when PID has died
#   pulse_ready_ports LINE            reads "pulse-gateway ready ... port=P admin_port=A"
#                                     into PULSE_GW_PORT and PULSE_GW_ADMIN_PORT
#   pulse_start_redis DIR LOG [setsid]  redis-server on a free 127.0.0.1 port, no
#                                     persistence, data in DIR; sets PULSE_REDIS_PID,
#                                     PULSE_REDIS_PORT, PULSE_REDIS_URL (5 tries)
#   pulse_build_dir ROOT TYPE         the build directory of a CMake build type:
#                                     ROOT/build (RelWithDebInfo), ROOT/build-release
#                                     (Release), ROOT/build-<type in lower case>
#   pulse_build DIR TYPE TARGET...    configures DIR as TYPE unless it is, builds TARGETs
#   pulse_cpu_ticks PID               utime+stime of PID in clock ticks
#   pulse_rss_kib PID                 resident memory of PID in KiB
#   pulse_disruption DIR KILL_US      what followed a kill at KILL_US (wall clock, us) in
#                                     pulse-subscribe's DIR/gaps.csv and recoveries.csv:
#                                     sets PULSE_DIS_RECONNECTS (clients reconnected),
#                                     PULSE_DIS_RECONNECT_MS (the last, after the kill),
#                                     PULSE_DIS_RECOVERIES (channel recoveries asked),
#                                     PULSE_DIS_RECOVERED (granted: recovered:true),
#                                     PULSE_DIS_CATCHUP_MS (the last replay caught up)
#   pulse_redis_cpu_us PORT           Redis's used_cpu_sys + used_cpu_user (INFO cpu), in us
#   pulse_stop_pids                   pulse_stop_pid on every PID of the caller's array
#                                     PIDS, newest first (grace PULSE_STOP_TENTHS, 50),
#                                     then empties it (a cleanup trap)
#   pulse_bench_init NAME [ARG1]      the start of a bench/ script: ARG1 -h or --help
#                                     prints the script's header comment and EXITS 0;
#                                     else sets BUILD (PULSE_BUILD_DIR or the
#                                     RelWithDebInfo one), GW PUB SUB WSB (the binaries
#                                     in it, not built yet: pulse_build), HZ, OUT (made:
#                                     ROOT/bench/results/NAME-<timestamp>), PIDS=() and
#                                     the trap pulse_stop_pids on EXIT INT TERM
#   pulse_start_gateway OUT ERR ARG...  "$GW" --port 0 --admin-port 0 ARG... (stdout to
#                                     OUT, stderr appended to ERR), its PID in GW_PID and
#                                     PIDS; waits 10 s for the ready line and reads its
#                                     ports (pulse_ready_ports); on failure prints the
#                                     last 20 lines of ERR and returns 1
#   pulse_metric ADMIN_PORT NAME      the value of the series NAME on GET /metrics
#   pulse_kv KEY LINE                 the value of " KEY=value" in LINE

# shellcheck shell=bash disable=SC2034
# (SC2034: the PULSE_* variables set here are read by the scripts that source this.)

pulse_port_in_use() {
  (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

# Ports come from below the kernel's ephemeral range (ip_local_port_range), so a
# port chosen here is not handed out a moment later to someone's outgoing
# connection or to a server that asked for port 0; checking and binding are still
# two steps, so a caller that can retry on "address in use" should.
pulse_free_port() {
  local i p host=${1:-127.0.0.1} lo=10000 hi=32767 elo ehi
  if read -r elo ehi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null; then
    if ((elo > lo + 1000)); then hi=$((elo - 1)); else lo=$((ehi + 1)) hi=65535; fi
  fi
  for ((i = 0; i < 200; i++)); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
    pulse_port_in_use "$p" "$host" && continue
    ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && continue
    echo "$p"
    return 0
  done
  echo "lib.sh: no free port found on $host" >&2
  return 1
}

# The polling helpers below start no process per look (bash builtins only): the
# benchmarks poll while they measure, and on this VM the processes a poll used to start
# (grep, cut, sleep; 60 a second) showed in the latencies they measured.
pulse_alive() {
  local st
  [ -n "$1" ] || return 1
  read -r st 2>/dev/null <"/proc/$1/stat" || return 1
  st=${st##*) } # the state follows the name "(comm)", which may hold spaces
  [ -n "$st" ] && [ "${st%% *}" != Z ]
}

# Sleeps $1 seconds without starting /bin/sleep: a read that times out on a FIFO of
# this shell's own that never gets data.
pulse_nap() {
  if [ -z "${PULSE_NAP_FD:-}" ] || [ "${PULSE_NAP_PID:-}" != "$BASHPID" ]; then
    local f
    f=$(mktemp -u) && mkfifo "$f" && exec {PULSE_NAP_FD}<>"$f" && rm -f "$f"
    PULSE_NAP_PID=$BASHPID
  fi
  read -r -t "$1" -u "$PULSE_NAP_FD" _ || true
}

pulse_stop_pid() {
  local pid=$1 sig=${2:-TERM} grace=${3:-50} i
  [ -n "$pid" ] || return 0
  if pulse_alive "$pid"; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < grace; i++)); do
      pulse_alive "$pid" || break
      sleep 0.1
    done
    if pulse_alive "$pid"; then
      echo "lib.sh: pid $pid still running after $((grace / 10)) s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  return 0
}

pulse_wait_line() { # the file stays open: each look reads only what was added since
  local file=$1 re=$2 secs=$3 pid=${4:-} end fd="" line part="" rc=1
  end=$((SECONDS + secs))
  while [ "$SECONDS" -lt "$end" ]; do
    [ -n "$fd" ] || { [ -r "$file" ] && exec {fd}<"$file"; } || true
    if [ -n "$fd" ]; then
      while IFS= read -r -u "$fd" line; do
        line=$part$line part=""
        [[ $line =~ $re ]] && { printf '%s\n' "$line"; rc=0; break 2; }
      done
      part+=$line # a line still being written: looked at once it is whole
    fi
    [ -z "$pid" ] || pulse_alive "$pid" || break
    pulse_nap 0.05
  done
  [ -z "$fd" ] || exec {fd}<&-
  return "$rc"
}

pulse_ready_ports() {
  PULSE_GW_PORT=$(sed -n 's/.* port=\([0-9]\+\).*/\1/p' <<<"$1")
  PULSE_GW_ADMIN_PORT=$(sed -n 's/.* admin_port=\([0-9]\+\).*/\1/p' <<<"$1")
  [ -n "$PULSE_GW_PORT" ] && [ -n "$PULSE_GW_ADMIN_PORT" ]
}

pulse_start_redis() {
  local dir=$1 logf=$2 how=${3:-} attempt port i
  # shellcheck disable=SC2034 # attempt only counts the tries
  command -v redis-server >/dev/null || { echo "lib.sh: redis-server not found (scripts/install-deps.sh)" >&2; return 1; }
  mkdir -p "$dir"
  for attempt in 1 2 3 4 5; do
    port=$(pulse_free_port 127.0.0.1) || return 1
    if [ "$how" = setsid ]; then
      setsid redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
        >"$logf" 2>&1 </dev/null &
    else
      redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
        >"$logf" 2>&1 </dev/null &
    fi
    PULSE_REDIS_PID=$!
    for ((i = 0; i < 100; i++)); do
      if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" = PONG ]; then
        PULSE_REDIS_PORT=$port
        PULSE_REDIS_URL="redis://127.0.0.1:$port"
        return 0
      fi
      pulse_alive "$PULSE_REDIS_PID" || break
      sleep 0.05
    done
    pulse_stop_pid "$PULSE_REDIS_PID" TERM 20
  done
  PULSE_REDIS_PID=""
  echo "lib.sh: redis-server did not start; its log ($logf):" >&2
  tail -n 20 "$logf" >&2 || true
  return 1
}

pulse_build_dir() {
  case "$2" in
    RelWithDebInfo) echo "$1/build" ;;
    Release) echo "$1/build-release" ;;
    *) echo "$1/build-$(tr '[:upper:]' '[:lower:]' <<<"$2")" ;;
  esac
}

pulse_build() {
  local dir=$1 type=$2
  shift 2
  if ! grep -qx "CMAKE_BUILD_TYPE:STRING=$type" "$dir/CMakeCache.txt" 2>/dev/null; then
    cmake -S "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" -B "$dir" -DCMAKE_BUILD_TYPE="$type" >/dev/null || return 1
  fi
  cmake --build "$dir" -j"$(nproc)" --target "$@" >/dev/null
}

pulse_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pulse_rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# Reconnects and recoveries that began from 2 s before the kill on (a client can notice
# the dead connection a moment before the caller's clock read).
pulse_disruption() {
  local dir=$1 k=$2
  read -r PULSE_DIS_RECONNECTS PULSE_DIS_RECONNECT_MS < <(awk -F, -v k="$k" '
    $3 >= k - 2000000 {n++; if ($4 > m) m = $4}
    END {printf "%d %.0f\n", n, n ? (m - k) / 1000 : 0}' < <(cat "$dir/gaps.csv" 2>/dev/null))
  read -r PULSE_DIS_RECOVERIES PULSE_DIS_RECOVERED PULSE_DIS_CATCHUP_MS < <(awk -F, -v k="$k" '
    $3 >= k - 2000000 {n++; ok += $8; if ($5 > m) m = $5}
    END {printf "%d %d %.0f\n", n, ok, n ? (m - k) / 1000 : 0}' < <(cat "$dir/recoveries.csv" 2>/dev/null))
}

pulse_redis_cpu_us() {
  redis-cli -p "$1" INFO cpu | tr -d '\r' |
    awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.0f", s * 1e6}'
}
pulse_stop_pids() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do pulse_stop_pid "${PIDS[$i]}" TERM "${PULSE_STOP_TENTHS:-50}"; done
  PIDS=()
}

pulse_bench_init() {
  case "${2:-}" in -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;; esac
  BUILD=${PULSE_BUILD_DIR:-$(pulse_build_dir "$ROOT" RelWithDebInfo)}
  GW="$BUILD/gateway/pulse-gateway" PUB="$BUILD/publisher/pulse-publish"
  SUB="$BUILD/subscriber-client/pulse-subscribe" WSB="$BUILD/bench/pulse-wsbench"
  HZ=$(getconf CLK_TCK)
  OUT="$ROOT/bench/results/$1-$(date +%Y%m%d-%H%M%S)"
  mkdir -p "$OUT"
  PIDS=()
  trap pulse_stop_pids EXIT INT TERM
}

pulse_start_gateway() {
  local out=$1 err=$2 line
  shift 2
  "$GW" --port 0 --admin-port 0 "$@" >"$out" 2>>"$err" &
  GW_PID=$!
  PIDS+=("$GW_PID")
  line=$(pulse_wait_line "$out" '^pulse-gateway ready' 10 "$GW_PID") || { tail -20 "$err" >&2; return 1; }
  pulse_ready_ports "$line"
}

pulse_metric() { curl -fsS "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
pulse_kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
