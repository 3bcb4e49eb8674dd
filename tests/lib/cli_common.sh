# Shared by tests/cli_*.sh (sourced after $tmp is set): pass/fail counting and error checks.
fails=0
ok()   { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails+1)); }
# expect_error NAME PATTERN CMD... : an error exit (1..127, not a crash) whose stderr is exactly
# one line, matching PATTERN (case-insensitive ERE).
expect_error() {
  local name="$1" pat="$2"; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qiE "$pat" "$tmp/err"; then ok "$name"
  else fail "$name (rc=$rc): $(cat "$tmp/err")"; fi
}
# expect_error_last NAME PATTERN CMD... : as expect_error, for commands that report progress on
# stderr before failing: the last line is the error.
expect_error_last() {
  local name="$1" pat="$2"; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && tail -n 1 "$tmp/err" | grep -qiE "$pat"; then ok "$name"
  else fail "$name (rc=$rc): $(tail -n 1 "$tmp/err")"; fi
}
