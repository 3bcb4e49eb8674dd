#!/usr/bin/env bash
# `leitmotif train` from the command line: a run killed with SIGKILL in the middle of an epoch
# and resumed gives exactly the model of an uninterrupted run; bad pairs files and options
# give one-line errors. Audio is synthesised with sox, so this needs nothing from ../shared.
# Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"
tmp="$(mktemp -d)"; [ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT; echo "tmp $tmp"
. "$(dirname "${BASH_SOURCE[0]}")/lib/cli_common.sh"
command -v sox >/dev/null || { echo "SKIP: sox not installed (scripts/setup.sh installs it)"; exit 77; }

# 18 s of a melody in two-second phrases: C E G C' / D F A D' / ..., pure tones with overtones.
names=(C C# D D# E F F# G G# A A# B)
notes=""
for phrase in 0 2 4 5 7 9 11 0 2; do
  for step in 0 4 7 12; do
    p=$((60 + phrase + step)); notes="$notes $p"
  done
done
args=()
for p in $notes; do args+=("$tmp/n$p.wav"); [ -f "$tmp/n$p.wav" ] || \
  sox -n -r 22050 -c 1 -b 16 "$tmp/n$p.wav" synth 0.5 pluck "%$((p - 69))" 2>/dev/null; done
sox "${args[@]}" "$tmp/melody.wav" pad 0 1 2>/dev/null || { fail "could not synthesise audio"; exit 1; }
{
  echo "audio,start_sec,end_sec,pitch_classes,fold"
  i=0
  for phrase in 0 2 4 5 7 9 11 0 2; do
    pcs=""
    for step in 0 4 7 12; do pcs="$pcs ${names[$(((phrase + step) % 12))]}"; done
    fold=1; [ $i -ge 7 ] && fold=2
    echo "melody.wav,$((i * 2)).000,$((i * 2 + 2)).000,${pcs# },$fold"
    i=$((i + 1))
  done
} >"$tmp/pairs.csv"

run=("$cli" train --pairs "$tmp/pairs.csv" --train-folds 1 --valid-fold 2 --batch 2 --max-epochs 3 --threads 2)
train() { "${run[@]}" "$@"; }

# Uninterrupted reference run.
if train --out "$tmp/a.bin" --cache "$tmp/cache" 2>"$tmp/a.log" && [ -s "$tmp/a.bin" ]; then ok "training run"
else fail "training run: $(tail -n 1 "$tmp/a.log")"; fi
grep -q "epoch   3" "$tmp/a.log" && ok "progress line per epoch" || fail "no epoch lines: $(cat "$tmp/a.log")"
[ -s "$tmp/a.bin.png" ] && ok "loss plot written" || fail "no loss plot"

# The same run, killed with SIGKILL once its first checkpoint exists, then resumed.
"${run[@]}" --out "$tmp/b.bin" --cache "$tmp/cache" 2>"$tmp/b.log" &
pid=$!
for _ in $(seq 1 4000); do [ -f "$tmp/b.bin.ckpt" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.005; done
if kill -9 $pid 2>/dev/null; then
  wait $pid 2>/dev/null
  if grep -q "epoch   3" "$tmp/b.log"; then fail "the run finished before it could be killed"
  else ok "killed during training"; fi
  ls "$tmp"/b.bin.ckpt.tmp.* >/dev/null 2>&1 && rm -f "$tmp"/b.bin.ckpt.tmp.*
  if train --out "$tmp/b.bin" --cache "$tmp/cache" --resume 2>>"$tmp/b.log"; then
    grep -q "resuming after epoch" "$tmp/b.log" && ok "resumed from the checkpoint" || fail "did not resume: $(tail -n 2 "$tmp/b.log")"
    # Weights after the 4096-byte header must be identical; the header differs only in model_id
    # (taken from the file name).
    if cmp -s <(tail -c +4097 "$tmp/a.bin") <(tail -c +4097 "$tmp/b.bin") &&
       cmp -s <(head -c 4096 "$tmp/a.bin" | grep -av '^model_id') <(head -c 4096 "$tmp/b.bin" | grep -av '^model_id'); then
      ok "resumed run = uninterrupted run (same weights, bit for bit)"
    else fail "resumed model differs from the uninterrupted run"; fi
  else fail "resume failed: $(tail -n 1 "$tmp/b.log")"; fi
else
  wait $pid 2>/dev/null; fail "training ended before the kill"
fi

# Excerpts of mixed lengths (2-12 s) are scheduled longest first over the threads; the model must
# not depend on the number of threads.
{
  echo "audio,start_sec,end_sec,pitch_classes,fold"
  echo "melody.wav,0.000,2.000,C E G C,1"
  echo "melody.wav,2.000,8.000,D F# A D E G# B E F A C F,1"
  echo "melody.wav,0.000,12.000,C E G C D F# A D E G# B E F A C F G B D G A C# E A,1"
  echo "melody.wav,4.000,6.000,E G# B E,1"
  echo "melody.wav,6.000,10.000,F A C F G B D G,1"
  echo "melody.wav,12.000,16.000,B D# F# B C E G C,2"
  echo "melody.wav,14.000,18.000,C E G C D F# A D,2"
} >"$tmp/mixed.csv"
for t in 1 2; do
  "$cli" train --pairs "$tmp/mixed.csv" --train-folds 1 --valid-fold 2 --batch 5 --max-epochs 2 --threads $t \
    --out "$tmp/t$t.bin" --cache "$tmp/cache" 2>"$tmp/t$t.log" || fail "mixed-length run, $t thread(s): $(tail -n 1 "$tmp/t$t.log")"
done
if [ -s "$tmp/t1.bin" ] && cmp -s <(tail -c +4097 "$tmp/t1.bin") <(tail -c +4097 "$tmp/t2.bin"); then
  ok "1 and 2 threads give the same weights (mixed excerpt lengths)"
else fail "the model depends on the number of threads"; fi

# Waveform augmentation is on by default (the runs above): it changes what the network hears.
# --augment none is the training without augmentation: the HCQT excerpt cache, deterministic.
for r in n1 n2; do
  "$cli" train --pairs "$tmp/mixed.csv" --train-folds 1 --valid-fold 2 --batch 5 --max-epochs 2 --threads 2 \
    --augment none --out "$tmp/$r.bin" --cache "$tmp/cache_none" 2>"$tmp/$r.log" || fail "--augment none: $(tail -n 1 "$tmp/$r.log")"
done
ls "$tmp"/cache_none/*.exc >/dev/null 2>&1 && ok "--augment none reads the HCQT excerpt cache" || fail "--augment none made no HCQT cache"
if cmp -s <(tail -c +4097 "$tmp/n1.bin") <(tail -c +4097 "$tmp/n2.bin") && ! cmp -s <(tail -c +4097 "$tmp/n1.bin") <(tail -c +4097 "$tmp/t2.bin"); then
  ok "--augment none is deterministic and differs from augmented training"
else fail "--augment none: not deterministic, or the same as augmented training"; fi
expect_error_last "bad --augment item" "augment.*reverb=7" train --out "$tmp/x.bin" --augment reverb=7

# Fine-tuning: --init starts from a model; its validation loss is the first best.
if "$cli" train --pairs "$tmp/mixed.csv" --train-folds 1 --valid-fold 2 --batch 5 --max-epochs 1 --threads 2 \
     --init "$tmp/t2.bin" --out "$tmp/ft.bin" 2>"$tmp/ft.log" && grep -q "starting model: validation loss" "$tmp/ft.log" &&
   [ -s "$tmp/ft.bin" ] && grep -aq "^init .*t2.bin" <(head -c 4096 "$tmp/ft.bin"); then ok "--init fine-tunes from a model"
else fail "--init: $(tail -n 2 "$tmp/ft.log")"; fi
expect_error_last "--init with a missing model" "no such file|cannot open" train --out "$tmp/x.bin" --init "$tmp/none.bin"

# The checkpoint's history: one CSV row per epoch, the state on stderr.
if "$cli" train --history "$tmp/b.bin.ckpt" >"$tmp/hist.csv" 2>"$tmp/hist.err" &&
   [ "$(head -n 1 "$tmp/hist.csv")" = "epoch,train_loss,valid_loss,lr,improved" ] &&
   [ "$(wc -l <"$tmp/hist.csv")" -eq 4 ] && [ "$(tail -n 1 "$tmp/hist.csv" | cut -d, -f1)" = 3 ] &&
   grep -q "after epoch 3" "$tmp/hist.err"; then ok "checkpoint history as CSV"
else fail "checkpoint history: $(cat "$tmp/hist.csv" "$tmp/hist.err")"; fi

# A damaged checkpoint is refused with a clear message; the model is left alone.
cp "$tmp/b.bin" "$tmp/b.keep"
head -c 1000 "$tmp/b.bin.ckpt" >"$tmp/c.bin.ckpt"; cp "$tmp/b.bin" "$tmp/c.bin"
expect_error_last "truncated checkpoint" "truncated|not a leitmotif checkpoint" train --out "$tmp/c.bin" --cache "$tmp/cache" --resume
cmp -s "$tmp/c.bin" "$tmp/b.keep" && ok "model untouched after a refused resume" || fail "model changed"
expect_error "history of a truncated checkpoint" "truncated" "$cli" train --history "$tmp/c.bin.ckpt"

# Bad pairs files and options.
printf 'audio,start_sec\nmelody.wav,0\n' >"$tmp/nocols.csv"
expect_error_last "pairs file without the theme column" "column" "$cli" train --pairs "$tmp/nocols.csv" --out "$tmp/x.bin" --train-folds 1 --valid-fold 2
sed 's/,2$/,1/' "$tmp/pairs.csv" >"$tmp/onefold.csv"
expect_error_last "empty validation fold" "validation fold has no usable pairs" "$cli" train --pairs "$tmp/onefold.csv" --out "$tmp/x.bin" --train-folds 1 --valid-fold 2 --cache "$tmp/cache"
printf 'audio,start_sec,end_sec,pitch_classes,fold\nmelody.wav,15,99,C D E,1\nmelody.wav,0,2,C E G C,2\n' >"$tmp/beyond.csv"
expect_error_last "only excerpt ends beyond the audio" "training fold has no usable pairs" "$cli" train --pairs "$tmp/beyond.csv" --out "$tmp/x.bin" --train-folds 1 --valid-fold 2 --cache "$tmp/cache"
printf 'audio,start_sec,end_sec,pitch_classes,fold\nmelody.wav,0,2,,1\n' >"$tmp/nonotes.csv"
expect_error_last "theme with no notes" "no notes|empty|pitch" "$cli" train --pairs "$tmp/nonotes.csv" --out "$tmp/x.bin" --train-folds 1 --valid-fold 2
expect_error_last "absurd batch size" "batch" train --out "$tmp/x.bin" --batch 0
expect_error_last "missing pairs file" "no such file|cannot open" "$cli" train --pairs "$tmp/none.csv" --out "$tmp/x.bin" --train-folds 1 --valid-fold 2
[ ! -e "$tmp/x.bin" ] && ok "no model written by failed runs" || fail "a failed run wrote a model"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
