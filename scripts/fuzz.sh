#!/usr/bin/env bash
# Fuzzes the request parser and command execution with libFuzzer + AddressSanitizer (issue 7).
#   scripts/fuzz.sh [seconds-per-target]      default 60; the test suite runs a short pass, use 600+ by hand
# Seeds come from Fuzz/corpus/<target> (committed); what the fuzzer finds goes to .build-fuzz/corpus/<target>,
# crashing inputs to .build-fuzz/artifacts/. Reproduce one with:
#   SHOAL_FUZZ_TARGET=<target> .build-fuzz/release/shoal-fuzz <artifact>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
swift build -c release --product shoal-fuzz --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DSHOAL_LIBFUZZER \
    -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld >/dev/null  # the toolchain.s lld: gold fails on libFuzzer + ASan objects
mkdir -p .build-fuzz/artifacts
status=0
for target in parser commands; do
    mkdir -p ".build-fuzz/corpus/$target"
    echo "== fuzzing $target for ${seconds}s"
    rc=0
    # The commands target keeps its keys between inputs, and a key or value stored as a tagged enum payload
    # (Swift keeps the case in a pointer's spare bits: a long key, any hash or set) is a pointer LeakSanitizer
    # can't recognise, so a check after each input would report those reachable keys as leaked. That check
    # is off for it; the one at exit stays on, after the target flushes its keyspace (FuzzTargets.state).
    leaks=1
    if [ "$target" = commands ]; then leaks=0; fi
    SHOAL_FUZZ_TARGET="$target" .build-fuzz/release/shoal-fuzz ".build-fuzz/corpus/$target" "Fuzz/corpus/$target" \
        -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -detect_leaks="$leaks" \
        -artifact_prefix=.build-fuzz/artifacts/"$target"- >".build-fuzz/$target.log" 2>&1 || rc=$?
    grep -E "^(Done|==[0-9]+==|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|shoal-fuzz:)" ".build-fuzz/$target.log" || true
    if [ "$rc" != 0 ]; then
        status=1
        echo "fuzz target $target FAILED (exit $rc): see .build-fuzz/$target.log and .build-fuzz/artifacts/"
    fi
done
exit "$status"
