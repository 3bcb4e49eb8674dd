# Sourced by the evaluation scripts (baselines, experiment, robustness, whole_corpus): makes
# DATA/bin/leitmotif, a copy of the repository's release build that stays as it is while a long
# evaluation runs (rebuilding build/ meanwhile does not change the binary under it), and sets
# $cli to it. Needs $here (the repository) and $data; creates DATA/bin and DATA/db.
mkdir -p "$data/bin" "$data/db"
cli="$data/bin/leitmotif"
if [ ! -x "$cli" ] || [ "$here/build/leitmotif" -nt "$cli" ]; then
  "$here/scripts/setup.sh" "$here/build" >&2
  cp "$here/build/leitmotif" "$cli.tmp" && mv "$cli.tmp" "$cli"
fi
