#!/usr/bin/env bash
# The Vamp plugin (vamp/leitmotif_vamp.c, built as BUILD/vamp/leitmotif.so) run by the SDK's
# vamp-simple-host gives the same chroma as `leitmotif chroma`, to 1e-5 (the host prints 6
# significant digits): deep chroma with the default model and STFT chroma, on real recordings
# (examples/audio) and on a generated stereo 44.1 kHz file.
# Args: CLI SHARED_DIR SOURCE_DIR. Skipped (77) without vamp-simple-host (Debian vamp-examples)
# or without the plugin (Debian vamp-plugin-sdk at build time).
set -u
cli="$1"; src="$3"
plugin_dir="$(cd "$(dirname "$cli")" && pwd)/vamp"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/lib/cli_common.sh"
command -v vamp-simple-host >/dev/null || { echo "SKIP: vamp-simple-host not installed (Debian vamp-examples)"; exit 77; }
[ -f "$plugin_dir/leitmotif.so" ] || { echo "SKIP: $plugin_dir/leitmotif.so not built (Debian vamp-plugin-sdk)"; exit 77; }
export VAMP_PATH="$plugin_dir"
# A sanitizer build's plugin needs the sanitizer runtimes loaded first into the host.
preload="$(ldd "$plugin_dir/leitmotif.so" 2>/dev/null | awk '/libasan|libubsan/ {print $3}' | tr '\n' ' ')"
vamp_host() {
  if [ -n "$preload" ]; then LD_PRELOAD="$preload" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" vamp-simple-host "$@"
  else vamp-simple-host "$@"; fi
}

# The plugin library lists both plugins, with a 12-bin output at 25 Hz.
vamp_host --list-ids >"$tmp/ids" 2>&1
grep -qx "vamp:leitmotif:deepchroma" "$tmp/ids" && grep -qx "vamp:leitmotif:stftchroma" "$tmp/ids" \
  && ok "vamp-simple-host lists leitmotif:deepchroma and leitmotif:stftchroma" || fail "plugins not listed: $(cat "$tmp/ids")"
vamp_host --list-full >"$tmp/full" 2>&1
grep -q "Default Bin Count:  12" "$tmp/full" && grep -q "Default Rate:       25" "$tmp/full" \
  && ok "output: 12 bins at 25 Hz" || fail "output descriptor: $(grep -A12 'Output 1' "$tmp/full" | head -24)"

# compare NAME PLUGIN FEATURES AUDIO: vamp-simple-host's lines "  t: v1 ... v12" against the
# command's CSV "time_s,C,...,B" (6 decimals): same frames, same times, values within 1e-5.
compare() {
  local name="$1" plugin="$2" features="$3" audio="$4" msg
  if ! vamp_host "leitmotif:$plugin" "$audio" -o "$tmp/vamp.txt" >/dev/null 2>"$tmp/err"; then
    fail "$name: vamp-simple-host failed: $(tail -n 3 "$tmp/err")"; return
  fi
  if ! "$cli" chroma "$audio" --features "$features" --csv -o "$tmp/cli.csv" 2>"$tmp/err"; then
    fail "$name: leitmotif chroma failed: $(cat "$tmp/err")"; return
  fi
  msg="$(awk -F'[ :,]+' '
    NR == FNR { if (FNR > 1) { n1++; t1[n1] = $1; for (k = 2; k <= 13; k++) c[n1, k - 1] = $k } next }
    { n2++; if ($2 + 0 != t1[n2] + 0) bad_t++; for (k = 3; k <= 14; k++) { d = $k - c[n2, k - 2]; if (d < 0) d = -d; if (d > m) m = d } }
    END { printf "%d %d %d %g", n1, n2, bad_t, m }' "$tmp/cli.csv" "$tmp/vamp.txt")"
  read -r n_cli n_vamp bad_times maxdiff <<<"$msg"
  if [ "$n_cli" -gt 0 ] && [ "$n_cli" = "$n_vamp" ] && [ "$bad_times" = 0 ] && awk -v m="$maxdiff" 'BEGIN { exit !(m <= 1e-5) }'; then
    ok "$name: $n_vamp frames equal to leitmotif chroma (max difference $maxdiff)"
  else
    fail "$name: leitmotif chroma $n_cli frames, plugin $n_vamp frames, $bad_times times differ, max difference $maxdiff"
  fi
}

# Real recordings of examples/ (mono 22.05 kHz) that do not end in digital silence: hosts pad
# the last block with zeros, so the plugin drops trailing zero samples (vamp/leitmotif_vamp.c).
for f in beethoven_op002-2-01_pitman_musopen dcs_locus-iste_quartetA_take04_stereoreverb-mix_excerpt; do
  compare "$f deep chroma" deepchroma ctc "$src/examples/audio/$f.flac"
  compare "$f stft chroma" stftchroma stft "$src/examples/audio/$f.flac"
done

# Stereo at 44.1 kHz, length not a multiple of the block: the plugin mixes down and resamples
# as the command does.
pybin=python3; /usr/bin/python3 -c '' 2>/dev/null && pybin=/usr/bin/python3
if command -v "$pybin" >/dev/null; then
  "$pybin" - "$tmp/stereo.wav" <<'EOF'
import math, random, struct, sys, wave
rate, n = 44100, 3 * 44100 + 1234
random.seed(1)
w = wave.open(sys.argv[1], "wb"); w.setnchannels(2); w.setsampwidth(2); w.setframerate(rate)
frames = bytearray()
for i in range(n):
    t = i / rate
    l = 0.2 * (math.sin(2 * math.pi * 196.0 * t) + math.sin(2 * math.pi * 293.66 * t)) + 0.01 * random.gauss(0, 1)
    r = 0.3 * math.sin(2 * math.pi * 246.94 * t + 0.3) + 0.01 * random.gauss(0, 1)
    frames += struct.pack("<hh", int(l * 32767) or 1, int(r * 32767) or 1)
w.writeframes(bytes(frames)); w.close()
EOF
  compare "stereo 44.1 kHz deep chroma" deepchroma ctc "$tmp/stereo.wav"
  compare "stereo 44.1 kHz stft chroma" stftchroma stft "$tmp/stereo.wav"
else
  echo "SKIP stereo 44.1 kHz file: python3 not installed"
fi
exit $fails
