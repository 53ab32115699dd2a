#!/usr/bin/env bash
# Scale-out on twemproxy: starts three Shoal instances and nutcracker on loopback, runs redis-benchmark and
# shoal-bench through
# the proxy, shows how the keys spread over the instances, kills one and shows what clients see, then stops
# everything by PID. Exits non-zero when the keys don't reach all three instances or the proxy doesn't recover.
#   scripts/scale-out-demo.sh            # the demo
#   scripts/scale-out-demo.sh --short    # a quick version (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
SHORT=0
[ "${1:-}" = "--short" ] && SHORT=1
source scripts/lib/deps.sh
apt_install nutcracker redis-tools
BINARY=${SHOAL_BINARY:-}
BENCH=${SHOAL_BENCH:-}
if [ -z "$BINARY" ] || [ -z "$BENCH" ]; then
    install_build_deps
    swift build -c release --product shoal-server >/dev/null
    swift build -c release --product shoal-bench >/dev/null
    BINARY=.build/release/shoal-server
    BENCH=.build/release/shoal-bench
fi
BASE=${SCALE_OUT_BASE_PORT:-17000}
PROXY=$((BASE + 121))
WORK=$(mktemp -d)
REQUESTS=$([ $SHORT = 1 ] && echo 20000 || echo 200000)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
wait_for() { for _ in $(seq 1 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "port $1 did not answer"; exit 1; }

echo "== three Shoal instances (each with its own snapshot dir and memory limit)"
declare -A SHOAL_PID
for i in 1 2 3; do
    mkdir -p "$WORK/shoal$i"
    "$BINARY" --bind 127.0.0.1 --port $((BASE + i)) --dir "$WORK/shoal$i" --save "" --maxmemory 256mb \
        --maxmemory-policy allkeys-lru --loglevel warning >"$WORK/shoal$i.log" 2>&1 &
    SHOAL_PID[$i]=$!
    PIDS+=($!)
    wait_for $((BASE + i))
    echo "shoal$i: 127.0.0.1:$((BASE + i)) pid ${SHOAL_PID[$i]}"
done

echo "== nutcracker on 127.0.0.1:$PROXY (ketama, auto-eject)"
sed -e "s/127.0.0.1:22121/127.0.0.1:$PROXY/" -e "s/127.0.0.1:7001/127.0.0.1:$((BASE + 1))/" \
    -e "s/127.0.0.1:7002/127.0.0.1:$((BASE + 2))/" -e "s/127.0.0.1:7003/127.0.0.1:$((BASE + 3))/" \
    conf/twemproxy/nutcracker.yml >"$WORK/nutcracker.yml"
nutcracker -t -c "$WORK/nutcracker.yml" >/dev/null
nutcracker -c "$WORK/nutcracker.yml" -s $((BASE + 122)) -o "$WORK/nutcracker.log" &
PIDS+=($!)
wait_for $PROXY

echo "== redis-benchmark through the proxy ($REQUESTS requests each, 50 clients, 100,000 random keys)"
redis-benchmark -p $PROXY -t set,get -n "$REQUESTS" -r 100000 -c 50 -q 2>/dev/null | tr '\r' '\n' | grep "per second"
echo "== shoal-bench through the proxy (verifying every GET returns what was SET)"
"$BENCH" -p $PROXY -n "$REQUESTS" -c 50 -r 100000 --mix set=1,get=1 --verify -q --label proxy \
    || { echo "FAIL: shoal-bench saw errors through the proxy"; exit 1; }

echo "== keys per instance"
total=0
for i in 1 2 3; do
    count=$(redis-cli -p $((BASE + i)) dbsize)
    total=$((total + count))
    echo "shoal$i: $count keys"
    [ "$count" -gt 0 ] || { echo "FAIL: shoal$i got no keys"; exit 1; }
done
echo "total: $total keys (spread OK)"

echo "== kill shoal2 (pid ${SHOAL_PID[2]}) and keep using the proxy"
kill -9 "${SHOAL_PID[2]}"
ok=0; failed=0
for n in $(seq 1 300); do
    if reply=$(redis-cli -p $PROXY set "after:$n" v 2>&1) && [ "$reply" = OK ]; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
    [ $n = 100 ] && sleep 2.5  # past server_retry_timeout: the dead instance has been ejected
done
echo "SETs through the proxy after the kill: $ok OK, $failed errors (errors only until twemproxy ejects the dead instance)"
late_failures=0
for n in $(seq 1 100); do
    reply=$(redis-cli -p $PROXY set "late:$n" v 2>&1) || true
    [ "$reply" = OK ] || late_failures=$((late_failures + 1))
done
echo "SETs once ejected: $((100 - late_failures)) of 100 OK"
[ "$late_failures" -eq 0 ] || { echo "FAIL: the proxy did not recover"; exit 1; }
for i in 1 3; do echo "shoal$i now: $(redis-cli -p $((BASE + i)) dbsize) keys"; done
echo "scale-out demo OK"
