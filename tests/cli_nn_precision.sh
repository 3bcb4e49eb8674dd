#!/usr/bin/env bash
# --nn-precision fp32|bf16 of `chroma` and `index` (issue 16 item 5): one-line errors for bad
# values; a bf16 database records it (manifest offset 300) and refuses fp32 additions; format 1,
# stft and a CPU without AVX512_BF16 never get bf16 features. Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"
if ! command -v sox >/dev/null; then echo "SKIP: sox not found (makes the test audio)"; exit 77; fi
tmp="$(mktemp -d /tmp/lm_cli_nnp.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/cli_common.sh"
export LEITMOTIF_PROGRESS=0
unset LEITMOTIF_NN_PRECISION
mkdir -p "$tmp/a" "$tmp/b"
sox -n -r 22050 -c 1 -b 16 "$tmp/a/r1.wav" synth 1 sine 262 : synth 1 sine 330 2>/dev/null || { echo "FAIL sox"; exit 1; }
sox -n -r 22050 -c 1 -b 16 "$tmp/b/r2.wav" synth 1 sine 392 : synth 1 sine 440 2>/dev/null || { echo "FAIL sox"; exit 1; }
# u32 at byte offset $2 of file $1
u32() { od -A n -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }

expect_error "index: bad --nn-precision" "nn-precision: unknown network precision 'int8'" \
  "$cli" index "$tmp/x.db" "$tmp/a" --nn-precision int8
[ ! -e "$tmp/x.db" ] && ok "no database made after a bad value" || fail "a database was made"
expect_error "index: bf16 into format 1" "format-1 database does not record the network precision" \
  "$cli" index "$tmp/f1.db" "$tmp/a" --nn-precision bf16 --format 1
expect_error "index: bf16 stft features" "ctc features only" \
  "$cli" index "$tmp/s.db" "$tmp/a" --features stft --nn-precision bf16

if grep -qw avx512_bf16 /proc/cpuinfo; then
  "$cli" index "$tmp/bf.db" "$tmp/a" --nn-precision bf16 2>"$tmp/err" && [ "$(u32 "$tmp/bf.db/MANIFEST" 300)" = 1 ] &&
    ok "index --nn-precision bf16 records bf16 in the manifest" || fail "bf16 index: $(cat "$tmp/err")"
  expect_error "fp32 additions to a bf16 database" "made with --nn-precision bf16, not fp32" \
    "$cli" index "$tmp/bf.db" "$tmp/b" --nn-precision fp32
  "$cli" index "$tmp/bf.db" "$tmp/b" 2>"$tmp/err" && "$cli" check "$tmp/bf.db" >/dev/null 2>&1 &&
    ok "an existing bf16 database keeps bf16 without the option" || fail "add to bf16: $(cat "$tmp/err")"
  "$cli" index "$tmp/fp.db" "$tmp/a" 2>"$tmp/err" && [ "$(u32 "$tmp/fp.db/MANIFEST" 300)" = 0 ] &&
    ok "fp32 (default) records 0" || fail "fp32 index: $(cat "$tmp/err")"
  expect_error "bf16 additions to an fp32 database" "made with --nn-precision fp32, not bf16" \
    "$cli" index "$tmp/fp.db" "$tmp/b" --nn-precision bf16
  "$cli" compact "$tmp/bf.db" >/dev/null 2>&1 && [ "$(u32 "$tmp/bf.db/MANIFEST" 300)" = 1 ] &&
    ok "compact keeps bf16" || fail "compact lost bf16"
else
  "$cli" index "$tmp/bf.db" "$tmp/a" --nn-precision bf16 2>"$tmp/err" && grep -q "no AVX512_BF16" "$tmp/err" &&
    [ "$(u32 "$tmp/bf.db/MANIFEST" 300)" = 0 ] && ok "no AVX512_BF16: fp32 with a warning" || fail "fallback: $(cat "$tmp/err")"
fi
# chroma: bf16 features close to fp32 ones (the whole file; .npy header aside)
"$cli" chroma "$tmp/a/r1.wav" -o "$tmp/c32.npy" --nn-precision fp32 2>/dev/null &&
  LEITMOTIF_NN_PRECISION=bf16 "$cli" chroma "$tmp/a/r1.wav" -o "$tmp/c16.npy" 2>/dev/null &&
  [ "$(stat -c %s "$tmp/c32.npy")" = "$(stat -c %s "$tmp/c16.npy")" ] &&
  ok "chroma with LEITMOTIF_NN_PRECISION=bf16" || fail "chroma bf16"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
