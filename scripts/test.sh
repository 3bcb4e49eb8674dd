#!/usr/bin/env bash
# Installs the dependencies, builds, and runs all tests twice: optimised, and under
# AddressSanitizer + UndefinedBehaviorSanitizer. Tests that need ../shared skip without it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc)"
"$here/scripts/setup.sh" "$here/build"
(cd "$here/build" && ctest --output-on-failure -j"$jobs")
"$here/scripts/setup.sh" "$here/build-asan" -DLM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd "$here/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$jobs")
echo "all tests passed (release and sanitizer builds)"
