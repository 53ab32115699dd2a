#!/usr/bin/env bash
# Shoal vs redis-server, side by side: see bench/README.md. `bench/compare.sh snapshot` runs the snapshot
# latency scenario instead (bench/snapshot.py), `bench/compare.sh scaling` the scaling one (bench/scaling.py).
# Builds release, installs what is missing (redis-server, redis-tools, matplotlib), runs bench/compare.py, and
# writes bench/results/<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
install_test_deps
apt_install util-linux
python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check matplotlib \
    || python3 -m pip install -q --break-system-packages matplotlib
swift build -c release --product shoal-server
swift build -c release --product shoal-bench
if [ "${1:-}" = snapshot ]; then
    shift
    exec python3 bench/snapshot.py "$@"  # writers' latency during a BGSAVE of a big dataset
fi
if [ "${1:-}" = scaling ]; then
    shift
    exec python3 bench/scaling.py "$@"  # the store with 1 and 2 threads, the server with io-threads 1 and 2
fi
exec python3 bench/compare.py "$@"
