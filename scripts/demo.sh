#!/usr/bin/env bash
# The main job on the embedded default: builds open-local, shows what the node
# actors see on this host, then runs `open-local standalone` and walks through
# its endpoints, ending with a graceful SIGTERM stop. Each step prints what it
# verified; any failed check stops the tour with a non-zero exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"

step "dependencies"
bash scripts/install-deps.sh

step "build"
build_tree build -DCMAKE_BUILD_TYPE=Debug >/dev/null
bin=$root/build/gateways/cmd/open-local
"$bin" version

step "what this host offers (open-local discover)"
"$bin" discover

work=$(mktemp -d)
cleanup() {
  [[ -n ${pid:-} ]] && kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step "open-local standalone"
"$bin" standalone --http-port 0 --port-file "$work/port" 2>"$work/log" &
pid=$!
for _ in $(seq 1 500); do
  [[ -s $work/port ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/log"; echo "standalone exited early" >&2; exit 1; }
  sleep 0.02
done
port=$(cat "$work/port")
base=http://127.0.0.1:$port
echo "serving on $base (pid $pid)"

check() { # check WHAT EXPECTED_STATUS URL
  local what=$1 want=$2 url=$3 got
  got=$(curl -s -o "$work/body" -w '%{http_code}' "$url")
  if [[ $got != "$want" ]]; then
    echo "FAIL $what: $url answered $got, expected $want" >&2
    cat "$work/body" >&2
    exit 1
  fi
  echo "ok   $what ($url -> $got)"
}

step "health, readiness, metrics"
check "liveness: the actor system answers" 200 "$base/healthz"
check "readiness" 200 "$base/readyz"
check "Prometheus metrics" 200 "$base/metrics"
grep -E '^open_local_(actors|node_block_devices|ready)' "$work/body" | sed 's/^/     /'

step "actor inspection"
check "every long-lived actor" 200 "$base/admin/actors"
count=$(grep -o '"count":[0-9]*' "$work/body" | cut -d: -f2)
echo "     $count actors registered; the first few:"
grep -o '"name":"[^"]*","kind":"[^"]*","responsive":[a-z]*,"mailboxDepth":[0-9]*,"summary":"[^"]*"' \
  "$work/body" | head -5 | sed 's/^/     /'
first_disk=$(grep -o '"id":[0-9]*,"name":"disk/[^"]*"' "$work/body" | head -1 | sed 's/"id":\([0-9]*\).*/\1/')
if [[ -n $first_disk ]]; then
  check "one disk actor's own state" 200 "$base/admin/actors/$first_disk"
  head -c 300 "$work/body" | sed 's/^/     /'
  echo
fi
check "an unknown actor is a clear 404" 404 "$base/admin/actors/999999999"
check "an unknown path is a clear 404" 404 "$base/nope"

step "graceful stop (SIGTERM)"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
grep -E 'signal|stopping|stopped' "$work/log" | sed 's/^/     /'
if [[ $status -ne 0 ]]; then
  echo "FAIL standalone exited $status after SIGTERM" >&2
  exit 1
fi
if curl -s -o /dev/null "$base/healthz"; then
  echo "FAIL still serving after exit" >&2
  exit 1
fi
echo "ok   exited 0 after draining; the port is closed"
step "tour complete"
