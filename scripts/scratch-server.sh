# Sourced by the scripts here: builds the debug binary, seeds the demo organisation into a fresh
# SQLite data folder, starts the server on a free loopback port and signs in as the demo admin.
# Afterwards: $bin, $work (removed on exit), $base (http://127.0.0.1:PORT), $pid, $token.
# A script may export HAZARDLOOP_* settings before sourcing this file.

log() { printf '== %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

log "building the server"
# Built as the README's test command builds it (`cargo test --workspace` compiles the binary with
# the test suite's dependency features): right after the tests this is a no-op, where a plain
# `cargo build --bin hazardloop` would compile most dependencies again with other features.
cargo test --workspace --no-run --quiet
bin=target/debug/hazardloop

work=$(mktemp -d "${TMPDIR:-/tmp}/hazardloop-scratch.XXXXXX")
pid=
scratch_cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap scratch_cleanup EXIT

port=$(free_port)
base="http://127.0.0.1:$port"
export HAZARDLOOP_DATA_DIR="$work/data"
export HAZARDLOOP_BIND="127.0.0.1:$port"
export HAZARDLOOP_WORKERS=2
export HAZARDLOOP_LOG=${HAZARDLOOP_LOG:-warn}
unset HAZARDLOOP_CONFIG HAZARDLOOP_DATABASE_URL DATABASE_URL

log "seeding the demo organisation"
"$bin" seed demo >"$work/seed.txt"
admin=$(awk '$1 == "admin" { print $2 }' "$work/seed.txt")
password=$(awk '$1 == "admin" { print $3 }' "$work/seed.txt")
[ -n "$admin" ] || { cat "$work/seed.txt" >&2; echo "no admin account in the seed output" >&2; exit 1; }

log "starting the server on $base"
"$bin" serve >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$base/readyz" 2>/dev/null; then
    break
  fi
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "the server exited" >&2; exit 1; }
  sleep 0.2
done

token=$(python3 - "$base" "$admin" "$password" <<'PY'
import json, sys, urllib.request
base, email, password = sys.argv[1:4]
req = urllib.request.Request(
    base + "/v1/auth/login",
    data=json.dumps({"email": email, "password": password}).encode(),
    headers={"content-type": "application/json"},
)
print(json.load(urllib.request.urlopen(req, timeout=30))["access_token"])
PY
)
