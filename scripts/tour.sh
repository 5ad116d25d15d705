#!/usr/bin/env bash
# The standalone tour: starts `open-local standalone` on a loop-backed pool and
# drives it through its CSI socket with the open-local client, as a person
# would: create, publish, write, expand, snapshot, restore, clone, limit IO,
# list, unpublish and delete volumes, checking the result of every step on the
# real system (mounts, sizes, checksums, cgroup files, measured rates). Needs root and a kernel with
# device-mapper; scripts/demo.sh runs it inside the VM harness otherwise.
#
# Usage: tour.sh OPEN_LOCAL_BINARY
set -euo pipefail
bin=${1:?usage: tour.sh OPEN_LOCAL_BINARY}

work=/run/olocal-tour
rm -rf "$work"
mkdir -p "$work/mnt"
sock="unix://$work/csi.sock"
vg=olocal-tour-pool

step() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok   %s\n' "$*"; }
fail() {
  printf 'FAIL %s\n' "$*" >&2
  [[ -f $work/log ]] && tail -n 30 "$work/log" | sed 's/^/     log: /' >&2
  exit 1
}
cli() { # the client, echoing the command and its answer
  printf '$ open-local %s\n' "$*"
  "$bin" "$@" --endpoint "$sock" --staging-dir "$work/staging" | sed 's/^/     /'
  return "${PIPESTATUS[0]}"
}
mounted() { awk -v p="$1" '$5 == p {found = 1} END {exit !found}' /proc/self/mountinfo; }
size_of() { stat -f -c '%b %S' "$1" | awk '{print $1 * $2}'; }
sum_of() { sha256sum "$1" | cut -d' ' -f1; }

cleanup() {
  if [[ -n ${pid:-} ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
  [[ -z ${app_cgroup:-} ]] || rmdir "$app_cgroup" 2>/dev/null || true
  for m in $(awk -v w="$work" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || true
  done
  vgremove -ff -y "$vg" >/dev/null 2>&1 || true
  for l in $(losetup -j "$work/pool.img" -O NAME -n 2>/dev/null); do losetup -d "$l" || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Starts open-local standalone in the background (again after a stop: the
# pool file, the volume group and the state directory are kept).
start_standalone() {
  rm -f "$work/port"
  "$bin" standalone --pool-file "$work/pool.img" --pool-size 2147483648 --pool-vg "$vg" \
    --csi-endpoint "$sock" --csi-allowed-path "$work" --state-dir "$work/state" \
    --http-port 0 --port-file "$work/port" --node-name tour-node 2>>"$work/log" &
  pid=$!
  for _ in $(seq 1 1500); do
    [[ -s $work/port && -S $work/csi.sock ]] && break
    kill -0 "$pid" 2>/dev/null || fail "standalone exited early"
    sleep 0.02
  done
  [[ -S $work/csi.sock ]] || fail "no CSI socket after 30 s"
  base=http://127.0.0.1:$(cat "$work/port")
}

# SIGTERM, then the exit status must be 0 and the socket gone.
stop_standalone() {
  kill -TERM "$pid"
  local status=0
  wait "$pid" || status=$?
  pid=
  ((status == 0)) || fail "standalone exited $status after SIGTERM"
  [[ ! -e $work/csi.sock ]] || fail "the CSI socket is still there"
}

step "open-local standalone on a 2 GiB file-backed pool"
start_standalone
ok "serving CSI on $sock and metrics/admin on $base (pid $pid)"
vgs --noheadings -o vg_name,vg_size,pv_name --units m "$vg" | sed 's/^ */     /'
ok "volume group $vg exists on $(losetup -j "$work/pool.img" -O NAME -n)"

step "create a volume and publish it"
cli volume create vol-a --size 128Mi
lvs --noheadings -o lv_name,lv_size,lv_tags --units m "$vg/vol-a" | sed 's/^ */     /'
cli volume publish vol-a "$work/mnt/a"
mounted "$work/mnt/a" || fail "vol-a is not mounted at $work/mnt/a"
ok "vol-a is an ext4 filesystem mounted at $work/mnt/a ($(size_of "$work/mnt/a") bytes)"

step "write data"
head -c $((24 << 20)) /dev/urandom >"$work/mnt/a/data"
sync
before=$(sum_of "$work/mnt/a/data")
ok "24 MiB written, sha256 ${before:0:16}..."

step "expand it online"
small=$(size_of "$work/mnt/a")
cli volume expand vol-a --size 256Mi
large=$(size_of "$work/mnt/a")
((large > small + (100 << 20))) || fail "filesystem did not grow: $small -> $large bytes"
[[ $(sum_of "$work/mnt/a/data") == "$before" ]] || fail "data changed by the expansion"
ok "filesystem grew from $small to $large bytes while mounted; data unchanged"

step "snapshot it, then change the volume"
cli snapshot create snap-a --volume vol-a --param csi.aliyun.com/snapshot-initial-size=64Mi
head -c $((8 << 20)) /dev/urandom >"$work/mnt/a/data"
sync
after=$(sum_of "$work/mnt/a/data")
[[ $after != "$before" ]] || fail "the new data should differ"
ok "vol-a now holds other data (sha256 ${after:0:16}...)"
cli snapshot list

step "restore the snapshot into a new volume"
cli volume create vol-r --from-snapshot snap-a
cli volume publish vol-r "$work/mnt/r"
[[ $(sum_of "$work/mnt/r/data") == "$before" ]] || fail "restored data differs from the snapshot"
ok "vol-r holds the data as it was at the snapshot (sha256 ${before:0:16}...)"

step "clone the volume"
cli volume create vol-c --from-volume vol-a
cli volume publish vol-c "$work/mnt/c" --readonly
[[ $(sum_of "$work/mnt/c/data") == "$after" ]] || fail "the clone differs from its source"
if touch "$work/mnt/c/x" 2>/dev/null; then fail "a read-only publish accepted a write"; fi
ok "vol-c equals vol-a and is published read-only (writes refused)"
echo "independent" >"$work/mnt/r/only-in-r"
[[ ! -e $work/mnt/a/only-in-r ]] || fail "the restore is not independent of its source"
ok "writing to vol-r leaves vol-a untouched"

step "IO limits: a throttled write next to an unthrottled one"
# Both writes run in one cgroup; only vol-slow's device is limited there.
# On a node, the pod's cgroup is found from its UID; standalone, the publish
# names the cgroup (olocal/cgroup) or --io-cgroup-parent gives one.
cgroot=/sys/fs/cgroup
app_cgroup=$cgroot/olocal-tour
if [[ ! -f $cgroot/cgroup.controllers ]] || ! grep -qw io "$cgroot/cgroup.controllers"; then
  printf 'skip cgroup v2 with the io controller is not mounted at %s on this host\n' "$cgroot"
  app_cgroup=
else
  grep -qw io "$cgroot/cgroup.subtree_control" || echo +io >"$cgroot/cgroup.subtree_control"
  mkdir -p "$app_cgroup"
  limit=$((8 << 20))
  cli volume create vol-slow --size 128Mi --param writeBps=8Mi
  cli volume publish vol-slow "$work/mnt/slow" --param writeBps=8Mi --param olocal/cgroup=/olocal-tour
  cli volume create vol-fast --size 128Mi
  cli volume publish vol-fast "$work/mnt/fast"
  printf '     %s/io.max: %s\n' "$app_cgroup" "$(cat "$app_cgroup/io.max")"
  grep -q "wbps=$limit" "$app_cgroup/io.max" || fail "no write limit in $app_cgroup/io.max"
  # Writes 48 MiB with O_DIRECT from inside the cgroup; prints bytes per
  # second as dd measured them.
  rate() {
    bash -c 'echo $$ >"$1/cgroup.procs" && exec dd if=/dev/zero of="$2" bs=1M count=48 oflag=direct 2>&1' \
      _ "$app_cgroup" "$1" |
      awk '/ copied, / {for (i = 1; i < NF; ++i) if ($(i + 1) == "s,") {printf "%d\n", $1 / $i; found = 1}}
           END {exit !found}' || fail "dd to $1"
  }
  slow=$(rate "$work/mnt/slow/zeros")
  fast=$(rate "$work/mnt/fast/zeros")
  printf '     vol-slow (writeBps=8Mi): %d B/s (%d%% of the limit)\n' "$slow" $((slow * 100 / limit))
  printf '     vol-fast (no limit):     %d B/s\n' "$fast"
  ((slow <= limit * 105 / 100 && slow >= limit * 85 / 100)) ||
    fail "vol-slow wrote at $slow B/s, not at its limit of $limit B/s"
  ((fast > 2 * limit)) || fail "vol-fast wrote at $fast B/s, not faster than twice the limit"
  ok "the limited volume writes at its limit; the other, from the same cgroup, is not slowed"
  curl -sf "$base/admin/actors" | grep -o '"name":"io-limits"[^}]*"summary":"[^"]*"' |
    sed 's/.*"summary":/     io-limits: /'
  printf '     %s/state/io-limits.json:\n' "$work"
  sed 's/^/       /' "$work/state/io-limits.json"
  ok "the limit in force is on the admin endpoint and kept in the state directory"
  stop_standalone
  rmdir "$app_cgroup" && mkdir "$app_cgroup" # recreated while we were down: no limit
  [[ -z $(tr -d '\n' <"$app_cgroup/io.max") ]] || fail "a new cgroup should start unlimited"
  start_standalone
  grep -q "wbps=$limit" "$app_cgroup/io.max" || fail "the limit was not restored after a restart"
  ok "after a restart (and the cgroup recreated meanwhile) the limit is in force again at start"
  cli volume unpublish vol-slow "$work/mnt/slow"
  [[ -z $(tr -d '\n' <"$app_cgroup/io.max") ]] || fail "the limit outlived the unpublish"
  ok "unpublish removed the limit ($app_cgroup/io.max is empty)"
  cli volume unpublish vol-fast "$work/mnt/fast"
  for v in slow fast; do cli volume delete "vol-$v"; done
  rmdir "$app_cgroup"
  app_cgroup=
fi

step "what the driver reports"
cli volume list
cli volume get vol-a
curl -sf "$base/healthz" >/dev/null || fail "/healthz"
curl -sf "$base/admin/actors" | grep -o '"name":"volume/[^"]*"' | sed 's/^/     /'
ok "health and the admin endpoint answer; one actor per volume"

step "unpublish and delete everything"
for v in a r c; do cli volume unpublish "vol-$v" "$work/mnt/$v"; done
for v in a r c; do ! mounted "$work/mnt/$v" || fail "vol-$v is still mounted"; done
ok "nothing of ours is mounted any more"
if cli volume delete vol-a 2>"$work/err"; then fail "vol-a was deleted although it has a snapshot"; fi
sed 's/^/     /' "$work/err"
ok "a volume with a snapshot is refused, with the reason"
cli snapshot delete snap-a
for v in r c a; do cli volume delete "vol-$v"; done
cli volume list
[[ -z $(lvs --noheadings -o lv_name "$vg") ]] || fail "LVs left in $vg"
ok "the pool is empty again"

step "graceful stop (SIGTERM)"
stop_standalone
ok "exited 0; socket removed"
step "tour complete"
