#!/usr/bin/env bash
# Installs leitmotif's build and test dependencies (Debian packages) and builds it.
# Usage: scripts/setup.sh [BUILD_DIR] [extra cmake args...]
# LM_SETUP_MINIMAL=1: only the packages needed to build the command (scripts/demo.sh);
# LM_SETUP_TARGET=T: build only target T (e.g. leitmotif_cli) instead of everything.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build}"; shift || true
pkgs=(build-essential cmake pkg-config
      libsndfile1-dev      # audio decoding (WAV/FLAC/OGG/MP3)
      libmpg123-dev        # MP3s that libsndfile decodes to nothing (a LAME tag trimming all)
      libsoxr-dev          # resampling to 22050 Hz
      libsamplerate0-dev   # tuning compensation, detune augmentation
      libfftw3-dev         # FFTs for the CQT and the STFT chroma
      libpng-dev           # loss-curve plots
      libdeflate-dev       # CRC-32 checksums of databases, models and caches
      zlib1g-dev           # joining checksums of chunks verified in parallel (crc32_combine)
      libxml2-dev          # MusicXML themes
      libzip-dev           # compressed MusicXML (.mxl) themes
      libmicrohttpd-dev    # the HTTP server of `leitmotif serve` (GNU libmicrohttpd)
      libcmocka-dev        # unit tests
      libopenmpi-dev       # distributed index/search/eval under mpirun (optional: -DLM_MPI=OFF builds without)
      openmpi-bin)         # mpirun, for those runs and tests/cli_mpi.sh
# Rendering the shared corpus (tests, benchmarks) needs FluidSynth and its helpers.
render_pkgs=(fluidsynth sox libsox-fmt-all python3-mido python3-numpy
             fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont)
# The Vamp plugin (vamp/vamp.h), its test host vamp-simple-host, and the Python package's
# build (pip, setuptools, wheel) and tests (pytest; numpy is above).
user_pkgs=(vamp-plugin-sdk vamp-examples python3-pip python3-setuptools python3-wheel python3-pytest)
if [ "${LM_SETUP_MINIMAL:-0}" = 1 ]; then render_pkgs=(); user_pkgs=(); fi
missing=()
for p in "${pkgs[@]}" "${render_pkgs[@]}" "${user_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
fi
log="$(mktemp)"
if ! { cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" && cmake --build "$build" -j"$(nproc)" ${LM_SETUP_TARGET:+--target "$LM_SETUP_TARGET"}; } >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"; echo "setup: build failed" >&2; exit 1
fi
rm -f "$log"
echo "setup: built leitmotif in $build" >&2
