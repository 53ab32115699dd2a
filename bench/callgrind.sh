#!/usr/bin/env bash
# User-space instructions per request, Shoal against redis-server, counted by callgrind (repeatable within a
# few percent even on a noisy machine, unlike throughput). For each server and test, the server runs under
# `valgrind --tool=callgrind` twice, driven by redis-benchmark with N and then 2N requests; the difference of
# the two totals divided by N is the cost of one request, start-up and shutdown cancelling out.
#
#   bench/callgrind.sh [N]        (default N=20000; prints a Markdown table)
#   SHOAL_EXTRA_ARGS="--latency-tracking no" bench/callgrind.sh    (Shoal with extra options, to cost a feature)
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-20000}"
source scripts/lib/deps.sh
install_test_deps
apt_install valgrind
# SHOAL_BINARY: a build to measure (a copy, so that rebuilding the tree meanwhile changes nothing).
if [ -z "${SHOAL_BINARY:-}" ]; then swift build -c release --product shoal-server >/dev/null; fi
shoal="${SHOAL_BINARY:-$PWD/.build/release/shoal-server}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# total <server> <test> <pipeline> <requests>: the instructions callgrind counted for the whole run.
total() {
    local server="$1" test="$2" pipeline="$3" count="$4" port out pid
    port="$(free_port)"
    out="$work/callgrind.$server.$test.$pipeline.$count"
    if [ "$server" = shoal ]; then
        # shellcheck disable=SC2086 # SHOAL_EXTRA_ARGS is a list of options
        valgrind --tool=callgrind --callgrind-out-file="$out" "$shoal" --port "$port" --bind 127.0.0.1 \
            --save "" --dir "$work" --io-threads 1 ${SHOAL_EXTRA_ARGS:-} >/dev/null 2>&1 &
    else
        valgrind --tool=callgrind --callgrind-out-file="$out" redis-server --port "$port" --bind 127.0.0.1 \
            --save "" --appendonly no --dir "$work" >/dev/null 2>&1 &
    fi
    pid=$!
    for _ in $(seq 1 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done
    redis-benchmark -p "$port" -t "$test" -n "$count" -P "$pipeline" -c 10 -r 100000 -q >/dev/null 2>&1
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait "$pid" || true
    grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
}

echo "| test | Shoal instr/request | redis-server instr/request | Shoal/Redis |"
echo "| --- | --- | --- | --- |"
for test in set get; do
    for pipeline in 1 16; do
        declare -A per
        for server in shoal redis; do
            one="$(total "$server" "$test" "$pipeline" "$requests")"
            two="$(total "$server" "$test" "$pipeline" $((requests * 2)))"
            per[$server]=$(( (two - one) / requests ))
        done
        ratio="$(python3 -c "print(f'{${per[shoal]} / ${per[redis]}:.2f}')")"
        echo "| ${test^^} P$pipeline | ${per[shoal]} | ${per[redis]} | $ratio |"
    done
done
