#!/usr/bin/env bash
# search --fuse, eval --fuse and eval --oracle on two databases of the two reference recordings
# (stft features, and ctc features when a model is at hand): their tables, W = 0 / W = 1 against
# the single databases, and exit codes and one-line messages for bad weights, a missing second
# database and databases of other recordings. Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"; shared="${2:-}"; src="${3:-}"
audio="$shared/reference/audio"
op67=Beethoven_Op067-01_DavidHighSchool
pitman=Beethoven_Op002-2-01_Pitman
theme_midi="$shared/corpus/themes/beethoven_sonata01-1_t1.mid"
for f in "$audio/$op67.wav" "$audio/$pitman.wav" "$theme_midi"; do
  if [ ! -f "$f" ]; then echo "SKIP: $f not found (needs ../shared)"; exit 77; fi
done
work="$(mktemp -d /tmp/lm_cli_fusion.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails+1)); }
# run NAME EXPECTED_RC CMD... : runs CMD, keeps stdout in $out and stderr in $err
run() {
  local name="$1" want="$2"; shift 2
  "$@" >"$work/out" 2>"$work/err"; rc=$?
  out="$(cat "$work/out")"; err="$(cat "$work/err")"
  if [ "$want" = nonzero ] && [ $rc -ne 0 ] || [ "$want" = "$rc" ]; then ok "$name"
  else bad "$name (rc=$rc, want $want): $err"; fi
}
expect() { # expect NAME TEXT PATTERN
  if printf '%s' "$2" | grep -qE -- "$3"; then ok "$1"; else bad "$1: '$3' not in: $2"; fi
}
one_line() { # errors are one line starting with "leitmotif: "
  if [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" == leitmotif:* ]]; then ok "$1 (one-line error)"
  else bad "$1: error is not one line: $err"; fi
}
same() { # same NAME A B
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: differ:"$'\n'"$2"$'\n'"---"$'\n'"$3"; fi
}

db="$work/stft.lmdb"; db2="$work/ctc.lmdb"
b5="G4 G4 G4 Eb4:4 F4 F4 F4 D4:4"
run "index stft" 0 "$cli" index "$db" "$audio" --features stft
model=""
for m in "$shared/reference/models/v1_ctc_train345valid1.bin" "$src/models/leitmotif_default.bin"; do
  if [ -f "$m" ]; then model="$m"; break; fi
done
if [ -n "$model" ]; then
  run "index ctc ($(basename "$model"))" 0 "$cli" index "$db2" "$audio" --features ctc --model "$model"
  feat2=ctc
else
  echo "     (no ctc model found: the second database holds stft features too)"
  mkdir -p "$work/copy" && cp "$audio"/*.wav "$work/copy/"
  run "index stft again" 0 "$cli" index "$db2" "$work/copy" --features stft
  feat2=stft
fi

# ---- search --fuse
run "search --fuse" 0 "$cli" search "$db" "$b5" --fuse "$db2"
expect "fused: Beethoven 5 first" "$(head -1 <<<"$out")" "^ +1 +$op67 +0\.[0-9]{4} +[0-9.]+-[0-9.]+$"
expect "fused: two results" "$(wc -l <<<"$out")" "^2$"
run "search DB" 0 "$cli" search "$db" "$b5"; single1="$out"
run "search DB2" 0 "$cli" search "$db2" "$b5"; single2="$out"
run "search --fuse-weight 0" 0 "$cli" search "$db" "$b5" --fuse "$db2" --fuse-weight 0
same "W = 0 is DB alone" "$out" "$single1"
run "search --fuse-weight 1" 0 "$cli" search "$db" "$b5" --fuse "$db2" --fuse-weight 1
same "W = 1 is DB2 alone" "$out" "$single2"
run "search --fuse --json" 0 "$cli" search "$db" "$b5" --fuse "$db2" --fuse-weight 0.25 --json
expect "JSON names the fusion" "$out" '"fuse": \{"database": ".*ctc\.lmdb", "weight": 0\.25, "recordings": 2\}'
if command -v python3 >/dev/null; then
  best=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["results"][0]["id"], len(d["results"]))' <<<"$out" 2>&1)
  expect "fused JSON parses" "$best" "^$op67 2$"
else
  expect "fused JSON best result" "$out" "\"rank\": 1, \"id\": \"$op67\""
fi
run "search help" 0 "$cli" search --help
expect "help names --fuse" "$out" "--fuse-weight W"

for w in 1.5 -0.1 abc nan ""; do
  run "bad --fuse-weight '$w'" 2 "$cli" search "$db" "$b5" --fuse "$db2" --fuse-weight "$w"; one_line "bad --fuse-weight '$w'"
  expect "bad weight explained" "$err" "--fuse-weight: expected a number in \[0, 1\]"
done
run "--fuse-weight without --fuse" 2 "$cli" search "$db" "$b5" --fuse-weight 0.5; one_line "--fuse-weight without --fuse"
expect "needs --fuse" "$err" "needs --fuse"
run "missing DB2" 1 "$cli" search "$db" "$b5" --fuse "$work/none.lmdb"; one_line "missing DB2"
expect "missing DB2 named" "$err" "cannot open database.*none\.lmdb"

# Other recordings: no id in common is an error; some missing is a warning.
mkdir -p "$work/other" "$work/half"
cp "$audio/$pitman.wav" "$work/other/something_else.wav"
cp "$audio/$op67.wav" "$work/half/"
run "index other" 0 "$cli" index "$work/other.lmdb" "$work/other" --features stft
run "index half" 0 "$cli" index "$work/half.lmdb" "$work/half" --features stft
run "search --fuse: no recording in common" 1 "$cli" search "$db" "$b5" --fuse "$work/other.lmdb"
one_line "no recording in common"
expect "mismatch explained" "$err" "no recording in common"
run "search --fuse: one recording missing" 0 "$cli" search "$db" "$b5" --fuse "$work/half.lmdb"
expect "missing recording warned" "$err" "warning: 1 of the 2 recordings of .*stft\.lmdb are not in .*half\.lmdb \(e\.g\. $pitman\)"
expect "only the common recording ranked" "$(wc -l <<<"$out")" "^1$"
# The same ids for other audio: frame counts more than 1 s apart (a second of Op. 67 only).
if command -v python3 >/dev/null; then
  mkdir -p "$work/short"
  cp "$audio/$pitman.wav" "$work/short/"
  python3 - "$audio/$op67.wav" "$work/short/$op67.wav" <<'EOF'
import sys, wave
with wave.open(sys.argv[1]) as r:
    p = r.getparams(); x = r.readframes(r.getframerate() * 2)
with wave.open(sys.argv[2], "wb") as w:
    w.setparams(p); w.writeframes(x)
EOF
  run "index short" 0 "$cli" index "$work/short.lmdb" "$work/short" --features stft
  run "search --fuse: frame counts apart" 0 "$cli" search "$db" "C4 D4 E4" --fuse "$work/short.lmdb"
  expect "length mismatch warned" "$err" "warning: recording $op67 has [0-9]+ frames in .* but [0-9]+ in .*short\.lmdb \(more than 1\.0 s apart\); not ranked"
  expect "the other one ranked" "$out" "^ +1 +$pitman "
fi

# ---- eval --oracle / --fuse
mkdir -p "$work/eval"
cp "$theme_midi" "$work/eval/q.mid"
cat >"$work/eval/themes.csv" <<EOF
theme_id,piece_id,fold,start_sec,end_sec,query_midi,transposition
op67,$op67,5,0.1,5.6,q.mid,0
pitman,$pitman,5,0.5,3.5,q.mid,0
EOF
themes="$work/eval/themes.csv"
run "eval --oracle" 0 "$cli" eval "$db" --oracle "$db2" --themes "$themes"
printf '%s\n' "$out" | sed 's/^/     | /'
expect "header: DB" "$(sed -n 1p <<<"$out")" "^DB +.*stft\.lmdb: stft features, 2 recordings$"
expect "header: DB2" "$(sed -n 2p <<<"$out")" "^DB2 +.*ctc\.lmdb: $feat2 features.*, 2 recordings$"
expect "oracle line" "$(sed -n 3p <<<"$out")" "^Oracle: per query the better rank of DB and DB2, over the 2 recordings in both$"
expect "oracle table header" "$(sed -n 4p <<<"$out")" "^System +Queries +Top-1 +Top-5 +Top-10 +Top-20 +Top-50 +MRR$"
expect "row DB" "$(sed -n 5p <<<"$out")" "^DB +2( +[01]\.[0-9]{3}){6}$"
expect "row DB2" "$(sed -n 6p <<<"$out")" "^DB2 +2( +[01]\.[0-9]{3}){6}$"
expect "row Oracle" "$(sed -n 7p <<<"$out")" "^Oracle +2( +[01]\.[0-9]{3}){6}$"
mrrs=$(awk 'NR >= 5 && NR <= 7 {print $NF}' <<<"$out" | tr '\n' ' ')
if awk -v m="$mrrs" 'BEGIN { split(m, a, " "); exit !(a[3] >= a[1] && a[3] >= a[2]) }'; then ok "oracle MRR >= both"
else bad "oracle MRR below a single database: $mrrs"; fi
run "eval DB alone" 0 "$cli" eval "$db" --themes "$themes" --json; plain1="$out"
run "eval DB2 alone" 0 "$cli" eval "$db2" --themes "$themes" --json; plain2="$out"
run "eval --oracle --json" 0 "$cli" eval "$db" --oracle "$db2" --themes "$themes" --json
if command -v python3 >/dev/null; then
  check=$(python3 -c '
import json, sys
o, p1, p2 = (json.loads(s) for s in sys.argv[1:4])
assert o["databases"]["db"]["features"] == "stft", o["databases"]
assert o["recordings"] == 2
for t, r in o["ranks"].items():
    assert r["db"] == p1["ranks"][t] and r["db2"] == p2["ranks"][t], (t, r)
    assert r["oracle"] == min(r["db"], r["db2"]), (t, r)
assert o["db"]["average"]["mrr"] == p1["average"]["mrr"]
assert o["oracle"]["average"]["mrr"] >= max(o["db"]["average"]["mrr"], o["db2"]["average"]["mrr"])
print("consistent")' "$out" "$plain1" "$plain2" 2>&1)
  expect "oracle JSON: ranks are the single runs' and their minimum" "$check" "^consistent$"
fi

run "eval --fuse" 0 "$cli" eval "$db" --fuse "$db2" --themes "$themes"
printf '%s\n' "$out" | sed 's/^/     | /'
expect "fusion line" "$(sed -n 3p <<<"$out")" "^Fusion: features 0\.7 x DB \+ 0\.3 x DB2, l2-normalised per frame, over the 2 recordings in both$"
expect "fused table header" "$(sed -n 4p <<<"$out")" "^Fold +Queries +Top-1 +Top-5 +Top-10 +Top-20 +Top-50 +MRR$"
expect "fused average row" "$(tail -1 <<<"$out")" "^Avg +2 "
run "eval --fuse --fuse-weight 0.3 --json" 0 "$cli" eval "$db" --fuse "$db2" --fuse-weight 0.3 --themes "$themes" --json
expect "fused JSON weight" "$out" '"fusion": \{"weight": 0\.3\}'
run "eval --fuse --fuse-weight 0" 0 "$cli" eval "$db" --fuse "$db2" --fuse-weight 0 --themes "$themes" --json --top-ranks-out "$work/top.csv"
if command -v python3 >/dev/null; then
  check=$(python3 -c '
import json, sys
f, p = (json.loads(s) for s in sys.argv[1:3])
assert f["ranks"] == p["ranks"] and f["average"] == p["average"], (f["ranks"], p["ranks"])
print("same")' "$out" "$plain1" 2>&1)
  expect "eval W = 0 is DB alone" "$check" "^same$"
fi
expect "fused top ranks CSV" "$(sed -n 2p "$work/top.csv")" "^op67,$op67,5,[12],"
run "eval --fuse: one recording missing" 0 "$cli" eval "$db" --fuse "$work/half.lmdb" --themes "$themes"
expect "missing recording warned" "$err" "1 of the 2 recordings of .*stft\.lmdb are not in"
expect "its query skipped" "$err" "1 of 2 queries skipped: their piece is not ranked in both databases"

run "eval --fuse-weight 2" 2 "$cli" eval "$db" --fuse "$db2" --fuse-weight 2 --themes "$themes"; one_line "eval bad weight"
run "eval --fuse-weight without --fuse" 2 "$cli" eval "$db" --fuse-weight 0.5 --themes "$themes"; one_line "eval weight alone"
run "eval --oracle and --fuse" 2 "$cli" eval "$db" --oracle "$db2" --fuse "$db2" --themes "$themes"; one_line "oracle and fuse"
run "eval --oracle --top-ranks-out" 2 "$cli" eval "$db" --oracle "$db2" --themes "$themes" --top-ranks-out "$work/x.csv"
one_line "oracle and top ranks"
run "eval --oracle missing DB2" 1 "$cli" eval "$db" --oracle "$work/none.lmdb" --themes "$themes"; one_line "eval missing DB2"
run "eval --oracle other recordings" 1 "$cli" eval "$db" --oracle "$work/other.lmdb" --themes "$themes"
one_line "eval no recording in common"
expect "eval mismatch explained" "$err" "no recording in common"
run "eval --fuse other recordings" 1 "$cli" eval "$db" --fuse "$work/other.lmdb" --themes "$themes"
run "eval help" 0 "$cli" eval --help
expect "eval help names --oracle" "$out" "--oracle DB2"
exit $fails
