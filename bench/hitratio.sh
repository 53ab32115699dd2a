#!/usr/bin/env bash
# Starts Shoal (release build) and a reference redis-server on loopback with persistence off, runs
# bench/hitratio.py against both, and stops both by PID. Extra arguments go to hitratio.py.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
install_test_deps
swift build -c release --product shoal-server
SHOAL_PORT=${SHOAL_PORT:-16379}
REDIS_PORT=${REDIS_PORT:-16380}
.build/release/shoal-server --bind 127.0.0.1 --port "$SHOAL_PORT" --save "" --loglevel warning &
SHOAL_PID=$!
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --loglevel warning &
REDIS_PID=$!
trap 'kill "$SHOAL_PID" "$REDIS_PID" 2>/dev/null || true' EXIT
for port in "$SHOAL_PORT" "$REDIS_PORT"; do
    for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
python3 bench/hitratio.py --shoal-port "$SHOAL_PORT" --redis-port "$REDIS_PORT" "$@"
