#!/usr/bin/env bash
# Command-line behaviour: exit codes and one-line errors for bad input. Args: CLI SHARED_DIR
set -u
cli="$1"; shared="${2:-}"
fails=0
check() { # check NAME EXPECTED_RC CMD...
  local name="$1" want="$2"; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$want" = "nonzero" ]; then [ $rc -ne 0 ] && ok=1 || ok=0; else [ $rc -eq "$want" ] && ok=1 || ok=0; fi
  if [ $ok = 1 ]; then echo "ok   $name"; else echo "FAIL $name (rc=$rc): $out"; fails=$((fails+1)); fi
}
check "no args" nonzero "$cli"
check "help" 0 "$cli" --help
check "unknown command" nonzero "$cli" frobnicate
exit $fails
