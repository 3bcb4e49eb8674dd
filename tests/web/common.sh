# Shared by the tests/cli_serve*.sh and cli_web_*.sh scripts (sourced): a small database and a
# `leitmotif serve` on a free port. Expects $cli, $shared and $work; sets $base, $port, $pid.

fails=${fails:-0}
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails+1)); }
expect() { # expect NAME TEXT PATTERN
  if printf '%s' "$2" | grep -qE -- "$3"; then ok "$1"; else bad "$1: '$3' not in: $(printf '%s' "$2" | head -c 400)"; fi
}

# need_tools TOOL...: skip (77) when one is missing
need_tools() {
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "SKIP: $t not installed (scripts/setup_web.sh installs it)"; exit 77; }
  done
}

# The two reference recordings of ../shared (stft features: no model needed); without ../shared,
# two synthesised stand-ins of the same names (harmonic tones: the opening of Beethoven's 5th, and
# another melody), so that these tests run anyway.
ref_audio="$shared/reference/audio"
synth_ref_audio() {
  ref_audio="$work/synth_audio"
  mkdir -p "$ref_audio"
  python3 - "$ref_audio" <<'PY'
import math, struct, sys, wave
def render(path, notes, bpm=120, rate=22050):
    out = []
    for name, beats in notes:
        n = int(rate * beats * 60 / bpm)
        f = 440 * 2 ** ((name - 69) / 12) if name else 0
        for i in range(n):
            t = i / rate
            env = min(1, t / 0.01) * math.exp(-2.5 * t) if f else 0
            out.append(env * sum(math.sin(2 * math.pi * f * h * t) / h for h in (1, 2, 3)) * 0.3)
    with wave.open(path, 'wb') as w:
        w.setnchannels(1); w.setsampwidth(2); w.setframerate(rate)
        w.writeframes(b''.join(struct.pack('<h', int(max(-1, min(1, v)) * 32000)) for v in out))
render(sys.argv[1] + '/Beethoven_Op067-01_DavidHighSchool.wav',
       [(0, 0.25), (67, .5), (67, .5), (67, .5), (63, 2), (65, .5), (65, .5), (65, .5), (62, 3),
        (60, 1), (64, 1), (67, 1), (72, 3)])
render(sys.argv[1] + '/Beethoven_Op002-2-01_Pitman.wav',
       [(76, .5), (75, .5), (76, .5), (79, .5), (76, .5), (76, .75), (78, .25), (76, .25), (75, 2), (74, 1), (74, 1.5),
        (72, 1), (71, 1), (69, 2), (0, 1)])
PY
}
make_ref_db() { # make_ref_db DB
  if [ ! -f "$ref_audio/Beethoven_Op067-01_DavidHighSchool.wav" ]; then
    echo "note: $ref_audio not found (../shared); using synthesised stand-ins"
    synth_ref_audio
  fi
  "$cli" index "$1" "$ref_audio" --features stft >"$work/index.log" 2>&1 ||
    { echo "FAIL index: $(cat "$work/index.log")"; exit 1; }
}

# start_server DB [serve options...]: starts `leitmotif serve DB --port 0 ...` and waits for it.
start_server() {
  local db="$1"; shift
  "$cli" serve "$db" --port 0 "$@" 2>"$work/serve.err" >"$work/serve.out" &
  pid=$!
  port=""
  for _ in $(seq 1 600); do
    port=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/' "$work/serve.err" 2>/dev/null | head -1 | sed -E 's#.*:([0-9]+)/#\1#')
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "FAIL the server did not start: $(cat "$work/serve.err")"; kill "$pid" 2>/dev/null; exit 1
  fi
  base="http://127.0.0.1:$port"
}

# server_up NAME: the server still answers
server_up() {
  local code
  code=$(curl -s -o /dev/null -m 20 -w '%{http_code}' "$base/api/info")
  if [ "$code" = 200 ] && kill -0 "$pid" 2>/dev/null; then ok "server still up after $1"
  else bad "server down after $1 (GET /api/info: $code)"; fi
}

# stop_server: SIGTERM; the server must exit 0 and, in sanitizer builds, report nothing.
stop_server() {
  kill -TERM "$pid" 2>/dev/null
  local rc=0
  wait "$pid" || rc=$?
  if [ "$rc" = 0 ]; then ok "server stops cleanly on SIGTERM"; else bad "server exit status $rc after SIGTERM"; fi
  if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$work/serve.err"; then
    bad "sanitizer report from the server:"; grep -E -A20 'AddressSanitizer|LeakSanitizer|runtime error' "$work/serve.err" | head -60
  fi
}

# http METHOD URL [curl args...]: sets $code, $body (file $work/body), $headers (file $work/headers)
http() {
  local method="$1" url="$2"; shift 2
  code=$(curl -s --path-as-is -m 60 -X "$method" -D "$work/headers" -o "$work/body" -w '%{http_code}' "$@" "$url")
  body="$(head -c 200000 "$work/body" 2>/dev/null | tr -d '\000')"
  headers="$(cat "$work/headers" 2>/dev/null)"
}

# want NAME CODE: $code must be CODE (a regex such as 4..)
want() {
  if [[ "$code" =~ ^($2)$ ]]; then ok "$1 -> $code"; else bad "$1: got $code, want $2: $(head -c 300 "$work/body" 2>/dev/null)"; fi
}
