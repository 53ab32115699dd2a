#!/usr/bin/env bash
# Runs Shoal on this machine: installs what is missing, builds in release mode, and starts the server with
# conf/shoal.conf (extra arguments are passed on, e.g. scripts/run.sh --port 7777).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
install_build_deps
swift build -c release --product shoal-server
exec .build/release/shoal-server conf/shoal.conf "$@"
