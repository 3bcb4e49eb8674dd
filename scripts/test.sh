#!/usr/bin/env bash
# Installs the dependencies, builds, and runs all tests twice: optimised (the default portable
# build), and under AddressSanitizer + UndefinedBehaviorSanitizer; in between, a -march=native
# build's tests and an installation into a temporary prefix. Tests that need ../shared skip
# without it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc)"
# The default build (-DLM_NATIVE=OFF; given explicitly, so that a build folder configured earlier
# with -march=native is switched back): runs on any x86-64 CPU, the hot loops pick AVX-512, AVX2
# or plain code at run time.
"$here/scripts/setup.sh" "$here/build" -DLM_NATIVE=OFF
# Optional: headless Chromium and playwright-core for the web page's browser test (it skips without).
"$here/scripts/setup_web.sh" || echo "test: the web test dependencies could not be installed; those tests will skip" >&2
(cd "$here/build" && ctest --output-on-failure -j"$jobs")
# Installation (issue 17): `cmake --install` into a temporary prefix, a small C program built
# against it through pkg-config, the installed command and Vamp plugin using the installed
# default model, the man page, and the Python package installed offline with pip.
install_check() {
  local build="$1" prefix py="" out theme="G4:0.5 G4:0.5 G4:0.5 Eb4:4 r:0.5 F4:0.5 F4:0.5 F4:0.5 D4:4"
  local audio="$here/examples/audio/beethoven_op067-01_davis-hs-so_musopen.flac"
  local other="$here/models/training/leitmotif_cce_train123valid4.bin"
  prefix="$(mktemp -d /tmp/leitmotif-install.XXXXXX)"
  cmake --install "$build" --prefix "$prefix" >/dev/null
  export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
  # shellcheck disable=SC2046  # pkg-config's flags are split on purpose
  cc -std=c17 -Wall -Wextra -Werror "$here/examples/leitmotif_example.c" $(pkg-config --cflags --libs leitmotif) \
     -Wl,-rpath,"$(pkg-config --variable=libdir leitmotif)" -o "$prefix/example"
  "$prefix/bin/leitmotif" index "$prefix/examples.lmdb" "$here/examples/audio" 2>/dev/null
  out="$("$prefix/example" "$prefix/examples.lmdb" "$theme" "$audio")"
  grep -q "^default model: $prefix/.*share/leitmotif/leitmotif_default.bin\$" <<<"$out" &&
    grep -q "^1 beethoven_op067-01_davis-hs-so_musopen " <<<"$out" ||
    { echo "test: the program built with pkg-config against the install gave:" >&2; echo "$out" >&2; return 1; }
  # the previous default (databases indexed with it grow only with it) is installed beside it
  cmp -s "$prefix/share/leitmotif/leitmotif_ctc_train123valid4.bin" "$here/models/training/leitmotif_ctc_train123valid4.bin" ||
    { echo "test: the previous default model is not installed in $prefix/share/leitmotif" >&2; return 1; }
  # The installed command and plugin must read PREFIX/share/leitmotif, not the source tree's
  # models/: with another model there, they compute that model's features.
  cp "$other" "$prefix/share/leitmotif/leitmotif_default.bin"
  "$prefix/bin/leitmotif" chroma "$audio" -o "$prefix/installed.npy"
  "$build/leitmotif" chroma "$audio" --model "$other" -o "$prefix/other.npy"
  cmp -s "$prefix/installed.npy" "$prefix/other.npy" ||
    { echo "test: the installed leitmotif does not use the installed default model" >&2; return 1; }
  if command -v vamp-simple-host >/dev/null && [ -f "$prefix/lib/vamp/leitmotif.so" ]; then
    local piano="$here/examples/audio/beethoven_op002-2-01_pitman_musopen.flac"
    VAMP_PATH="$prefix/lib/vamp" vamp-simple-host leitmotif:deepchroma "$piano" -o "$prefix/vamp.txt" >/dev/null 2>&1
    "$build/leitmotif" chroma "$piano" --model "$other" --csv -o "$prefix/other.csv"
    awk -F'[ :,]+' 'NR == FNR { if (FNR > 1) { n++; for (k = 2; k <= 13; k++) c[n, k] = $k } next }
      { m++; for (k = 3; k <= 14; k++) { d = $k - c[m, k - 1]; if (d > 1e-5 || d < -1e-5) bad++ } }
      END { exit !(n > 100 && m == n && bad == 0) }' "$prefix/other.csv" "$prefix/vamp.txt" ||
      { echo "test: the installed Vamp plugin does not run, or not with the installed model" >&2; return 1; }
  fi
  # Optional (when qemu-user is installed): the installed command on an emulated CPU without
  # AVX (a portable build, -DLM_NATIVE=OFF, must run there; a -march=native one need not).
  if command -v qemu-x86_64 >/dev/null && grep -q '^LM_NATIVE:BOOL=OFF' "$build/CMakeCache.txt"; then
    qemu-x86_64 -cpu Nehalem "$prefix/bin/leitmotif" chroma "$audio" --csv -o "$prefix/nehalem.csv" 2>/dev/null &&
      "$prefix/bin/leitmotif" chroma "$audio" --csv -o "$prefix/host.csv" &&
      awk -F, 'NR == FNR { a[FNR] = $0; next } { split(a[FNR], x, ","); for (k = 2; k <= NF; k++) { d = $k - x[k]; if (d > 1e-4 || d < -1e-4) bad++ } }
        END { exit bad > 0 }' "$prefix/host.csv" "$prefix/nehalem.csv" ||
      { echo "test: the installed portable leitmotif fails on an emulated CPU without AVX" >&2; return 1; }
  fi
  if command -v groff >/dev/null && [ -n "$(groff -man -Tutf8 -ww -z "$prefix/share/man/man1/leitmotif.1" 2>&1)" ]; then
    echo "test: the man page has groff warnings" >&2; return 1
  fi
  for cand in /usr/bin/python3 python3; do "$cand" -c 'import numpy, setuptools' 2>/dev/null && "$cand" -m pip --version >/dev/null 2>&1 && { py="$cand"; break; }; done
  if [ -n "$py" ]; then
    cp -r "$here/python" "$prefix/python-src"  # pip builds in the source folder
    "$py" -m pip install -q --root-user-action=ignore --no-build-isolation --no-index --no-deps --target "$prefix/site" "$prefix/python-src" >/dev/null
    PYTHONPATH="$prefix/site" "$py" -c "
import leitmotif as lm, numpy as np, sys
assert lm.library_path.startswith('$prefix'), lm.library_path
with lm.Database('$prefix/examples.lmdb') as db:
    assert db.search('$theme', top=1)[0].doc_id == 'beethoven_op067-01_davis-hs-so_musopen'
assert np.array_equal(lm.chroma('$audio'), np.load('$prefix/other.npy'))
" || { echo "test: the pip-installed Python package failed against the install" >&2; return 1; }
  else
    echo "test: Python install check SKIPPED: no python3 with numpy, pip and setuptools" >&2
  fi
  rm -rf "$prefix"
  echo "test: install into a temporary prefix, pkg-config program, installed model, Vamp plugin, man page and pip package: ok" >&2
}
# A -march=native build (-DLM_NATIVE=ON, the option): the tests of the dispatched code (golden
# outputs, the training checksum, the DTW against librosa, the STFT and bg1 chroma), the Python
# package and the Vamp plugin. Then the installation checks on the default (portable) build.
"$here/scripts/setup.sh" "$here/build-native" -DLM_NATIVE=ON
(cd "$here/build-native" && ctest --output-on-failure -j"$jobs" \
  -R '^(test_hcqt|test_cnn|test_cnn_train|test_pipeline|test_api|test_salience|test_sdtw|test_stft_chroma|test_bg1|test_search_modes|cli_train|cli_features|cli_vamp|python_pytest)$')
install_check "$here/build"
"$here/scripts/setup.sh" "$here/build-asan" -DLM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd "$here/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$jobs")
# Fuzzing (fuzz/run): every libFuzzer target, built with clang, ASan and UBSan, runs from its seed
# corpus for LM_FUZZ_SECONDS each (default 20: 12 targets take about 4 min plus a 1-2 min build;
# 60 s each would add 12 min). Needs clang and its libFuzzer runtime (installed here if missing);
# without them the step says it was skipped.
if ! command -v clang >/dev/null; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  { $sudo_cmd apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q clang libclang-rt-dev; } >/dev/null 2>&1 ||
    echo "test: clang could not be installed" >&2
fi
fuzz_rc=0
"$here/fuzz/run" all "${LM_FUZZ_SECONDS:-20}" || fuzz_rc=$?
if [ $fuzz_rc -eq 77 ]; then echo "test: fuzzing SKIPPED: no clang with libFuzzer" >&2
elif [ $fuzz_rc -ne 0 ]; then echo "test: a fuzz target found a problem (fuzz/run, above)" >&2; exit 1; fi
echo "all tests passed (release and sanitizer builds)"
