#!/usr/bin/env bash
# history_steps.sh - where the Redis CPU of a history publish goes: each step of
# FCALL pulse_publish timed on its own, as small functions of a throwaway library
# `pulse_steps` that each do one step and then the PUBLISH, next to a raw PUBLISH, an
# empty FCALL and the real library. Figures, not pass/fail.
#
#   bench/history_steps.sh [EVENTS]   EVENTS per run (default 100000); each figure is
#                                     the lowest of 3 runs ($PULSE_BENCH_REPEAT)
#
# Environment: PULSE_STEPS_SUBS="1 3"   subscribers of the channel (plain SUBSCRIBE
#              clients standing for gateway nodes; PUBLISH's cost grows with them)
#              PULSE_STEPS_PIPE="32 1"  pipeline depths of redis-benchmark (-c 1)
#              PULSE_STEPS_BYTES=100    payload size
#              PULSE_STEPS_ROWS="raw pub lib-hist"  the rows to run (default: all)
#              PULSE_STEPS_OLD_PUBLISH=/path/to/pulse-publish  another build's library
#                 (e.g. main's, for a before/after) loaded as pulse_old: row lib-old
# Redis CPU per call = the growth of INFO cpu used_cpu_sys + used_cpu_user over a
# redis-benchmark run, divided by the calls; "x raw" divides by the raw PUBLISH row
# of the same subscribers and pipeline. A step's own cost is its row minus `pub`
# (xadd: HINCRBY + XADD MAXLEN ~ 1000 <offset>-0; xadd_nocap: the same without MAXLEN;
# xadd_auto: XADD MAXLEN ~ 1000 * alone; time: TIME; pttl: PTTL; pexpire2: two PEXPIREs).
# Results also go to bench/results/steps-<timestamp>/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
pulse_bench_init steps "${1:-}" # subscribers come after Redis: pulse_stop_pids stops them first
EVENTS=${1:-100000}
REPEAT=${PULSE_BENCH_REPEAT:-3}
SUBS=${PULSE_STEPS_SUBS:-1 3}
PIPES=${PULSE_STEPS_PIPE:-32 1}
BYTES=${PULSE_STEPS_BYTES:-100}
pulse_build "$BUILD" RelWithDebInfo pulse-publish
command -v redis-benchmark >/dev/null || { echo "history_steps.sh: redis-benchmark not found" >&2; exit 1; }

NSUBS=0

pulse_start_redis "$OUT" "$OUT/redis.log"
PIDS+=("$PULSE_REDIS_PID")
PORT=$PULSE_REDIS_PORT
# The SUBSCRIBE clients stand for nodes that keep up: Redis must not drop them over its
# default pub/sub output buffer limit (32 MiB) when one falls behind (16 KiB payloads
# at full speed), or the PUBLISHes after that reach nobody and cost less.
redis-cli -p "$PORT" CONFIG SET client-output-buffer-limit "pubsub 1gb 1gb 0" >/dev/null
CH=alerts.steps # history by the built-in rule alerts.* (1000 events, one day)

# One function per step; each ends with the PUBLISH a history publish does, so that
# a row minus `pub` is the step. K = pulse:{C}:steps.<key>, all in C's slot.
redis-cli -p "$PORT" -x FUNCTION LOAD REPLACE >/dev/null <<'LUA'
#!lua name=pulse_steps
local function k(ch, w) return 'pulse:{' .. ch .. '}:steps.' .. w end
local REFRESHED = {}
local steps = {
  empty = function(keys, args) return 0 end,
  pub = function(keys, args) return redis.call('PUBLISH', keys[1], args[1]) end,
  hdr = function(keys, args)
    return redis.call('PUBLISH', keys[1], '#pulse1 ' .. '12345' .. ' ' .. 'AbCdEfGh' .. '\n' .. args[1])
  end,
  hget = function(keys, args)
    redis.call('HGET', k(keys[1], 'meta'), 'epoch')
    return redis.call('PUBLISH', keys[1], args[1])
  end,
  hincrby = function(keys, args)
    redis.call('HINCRBY', k(keys[1], 'meta'), 'offset', 1)
    return redis.call('PUBLISH', keys[1], args[1])
  end,
  xadd = function(keys, args)
    local off = redis.call('HINCRBY', k(keys[1], 'xmeta'), 'offset', 1)
    redis.call('XADD', k(keys[1], 'stream'), 'MAXLEN', '~', 1000, string.format('%d', off) .. '-0', 'd', args[1])
    return redis.call('PUBLISH', keys[1], args[1])
  end,
  xadd_nocap = function(keys, args)
    local off = redis.call('HINCRBY', k(keys[1], 'ymeta'), 'offset', 1)
    redis.call('XADD', k(keys[1], 'ystream'), string.format('%d', off) .. '-0', 'd', args[1])
    return redis.call('PUBLISH', keys[1], args[1])
  end,
  xadd_auto = function(keys, args)
    redis.call('XADD', k(keys[1], 'astream'), 'MAXLEN', '~', 1000, '*', 'd', args[1])
    return redis.call('PUBLISH', keys[1], args[1])
  end,
  time = function(keys, args)
    local now = tonumber(redis.call('TIME')[1])
    REFRESHED[keys[1]] = now
    return redis.call('PUBLISH', keys[1], args[1])
  end,
  pttl = function(keys, args)
    redis.call('PTTL', k(keys[1], 'meta'))
    return redis.call('PUBLISH', keys[1], args[1])
  end,
  pexpire2 = function(keys, args)
    redis.call('PEXPIRE', k(keys[1], 'meta'), 86400000)
    redis.call('PEXPIRE', k(keys[1], 'stream'), 86400000)
    return redis.call('PUBLISH', keys[1], args[1])
  end,
}
local NAMES = {'empty', 'pub', 'hdr', 'hget', 'hincrby', 'xadd', 'xadd_nocap', 'xadd_auto', 'time', 'pttl', 'pexpire2'}
for i = 1, #NAMES do
  redis.register_function('steps_' .. NAMES[i], steps[NAMES[i]])
end
LUA
redis-cli -p "$PORT" HSET "pulse:{$CH}:steps.meta" epoch AbCdEfGh offset 0 >/dev/null
# Another build's library, renamed pulse_old (its functions pulse_old_*), for lib-old.
if [ -n "${PULSE_STEPS_OLD_PUBLISH:-}" ]; then
  "$PULSE_STEPS_OLD_PUBLISH" --redis "$PULSE_REDIS_URL" --channel "$CH" --count 1 --quiet 2>>"$OUT/publish.err"
  redis-cli -p "$PORT" --raw FUNCTION LIST LIBRARYNAME pulse WITHCODE | sed -n '/^#!lua/,$p' |
    sed "s/^#!lua name=pulse\$/#!lua name=pulse_old/; s/function_name = 'pulse_/function_name = 'pulse_old_/" \
      >"$OUT/old.lua"
  redis-cli -p "$PORT" FUNCTION DELETE pulse >/dev/null
  redis-cli -p "$PORT" -x FUNCTION LOAD <"$OUT/old.lua" >/dev/null
fi
# The real library, as this build generates it (pulse-publish loads it when missing).
"$PUB" --redis "$PULSE_REDIS_URL" --channel "$CH" --count 1000 --quiet 2>>"$OUT/publish.err"
PAYLOAD=$(head -c "$BYTES" /dev/zero | tr '\0' x)


run() { # pipe cmd... -> Redis us per call, the lowest of REPEAT runs
  local pipe=$1 k c0 c1
  shift
  for ((k = 0; k < REPEAT; k++)); do
    c0=$(pulse_redis_cpu_us "$PORT")
    redis-benchmark -p "$PORT" -c 1 -P "$pipe" -n "$EVENTS" "$@" >>"$OUT/benchmark.log" 2>&1
    c1=$(pulse_redis_cpu_us "$PORT")
    echo $((c1 - c0))
  done | awk -v n="$EVENTS" 'NR == 1 || $1 < d {d = $1} END {printf "%.2f", d / n}'
}

say() { tee -a "$OUT/summary.txt"; }
ROWS=${PULSE_STEPS_ROWS:-raw empty pub hdr hget hincrby xadd xadd_nocap xadd_auto time pttl pexpire2 lib-nohist lib-hist}
[ -z "${PULSE_STEPS_OLD_PUBLISH:-}" ] || [[ " $ROWS " == *" lib-old "* ]] || ROWS="$ROWS lib-old"
echo "# history_steps.sh $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, redis $(redis-server --version | awk '{print $3}'), load $(cut -d' ' -f1-3 /proc/loadavg), $BYTES B, $EVENTS calls/run, lowest of $REPEAT" | say
for subs in $SUBS; do
  for (( ; NSUBS < subs; NSUBS++)); do
    redis-cli -p "$PORT" SUBSCRIBE "$CH" "$CH.old" feed:steps >/dev/null &
    PIDS+=($!)
  done
  sleep 0.3
  for pipe in $PIPES; do
    echo "## $subs subscriber(s), pipeline $pipe: Redis CPU us per call" | say
    printf "%-11s %8s %7s\n" row "us/call" "x raw" | say
    raw=
    for row in $ROWS; do
      case $row in
        raw) cmd=(PUBLISH "$CH" "$PAYLOAD") ;;
        lib-nohist) cmd=(FCALL pulse_publish 1 feed:steps "$PAYLOAD") ;;
        lib-hist) cmd=(FCALL pulse_publish 1 "$CH" "$PAYLOAD") ;;
        lib-old) cmd=(FCALL pulse_old_publish 1 "$CH.old" "$PAYLOAD") ;; # its own keys
        *) cmd=(FCALL "steps_$row" 1 "$CH" "$PAYLOAD") ;;
      esac
      us=$(run "$pipe" "${cmd[@]}")
      [ "$row" = raw ] && raw=$us
      printf "%-11s %8s %7s\n" "$row" "$us" "$(awk -v a="$us" -v b="$raw" 'BEGIN {printf "%.2f", a / b}')" | say
    done
  done
done
