#!/usr/bin/env bash
# The image test (`./hub test-image`): runs the built image as the Kubernetes manifests do and
# converts archives through it.
#
# * migrations, the gateway and worker-convert run from the image with `podman run` on the host
#   network, as the image's non-root user, on a read-only root filesystem with a tmpfs /tmp, no
#   capabilities and no privilege escalation (the manifests' securityContext), configured like
#   the pods: deploy/kubernetes/base/hub.toml mounted at /etc/hub/hub.toml, the rest in HUB_*
#   variables;
# * PostgreSQL and Redis are the machine's (a database of its own, dropped at the end); NATS is a
#   private nats-server with JetStream and its monitoring port, which KEDA reads in production;
# * the chunk store is a directory mounted into both containers.
#
# Steps: the gateway alone creates the stream and the consumers the production ScaledObjects
# name; a job submitted while no worker runs shows up as lag in `/jsz` exactly as KEDA computes
# it (num_pending + num_ack_pending); the worker started afterwards runs it, the lag drops to 0;
# a synchronous upload answers 200; the published flist, downloaded through the gateway and
# unpacked by the image's hubctl from the store, is byte for byte the archive's tree; both
# containers stop on SIGTERM with status 0.
#
# Environment (set by ./hub): IMAGE, PODMAN_ROOT (podman store folder), STATE (scratch folder),
# PG_ADMIN_URL, PG_HOST_URL (postgres://user@127.0.0.1:port), REDIS_URL, PYTHON (with PyYAML),
# ROOT (the repository). Ends with "N passed, M failed".
set -euo pipefail

: "${IMAGE:?}" "${PODMAN_ROOT:?}" "${STATE:?}" "${PG_ADMIN_URL:?}" "${PG_HOST_URL:?}" "${REDIS_URL:?}"
: "${PYTHON:?}" "${ROOT:?}"

P=(podman --storage-driver vfs --runtime runc --root "$PODMAN_ROOT/root" --runroot "$PODMAN_ROOT/run")
# The pods' restrictions. Podman's default rlimits (1048576 open files) are above what some
# sandboxes allow a container to set (runc: "error setting rlimits … operation not permitted"):
# ask for less.
RUN=("${P[@]}" run --network host --read-only --tmpfs /tmp:rw,size=256m --cap-drop ALL
  --security-opt no-new-privileges --ulimit nofile=16384:16384 --ulimit nproc=16384:16384)

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); printf '  \033[32mok\033[0m   %s\n' "$*"; }
bad() { FAILED=$((FAILED + 1)); printf '  \033[31mFAIL\033[0m %s\n' "$*"; }
check() { # description command...
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; summary; exit 1; }
summary() { echo "image: $PASSED passed, $FAILED failed"; }

free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

T="$STATE/run"
rm -rf "$T"
mkdir -p "$T/nats" "$T/store" "$T/out" "$T/archive/etc" "$T/archive/usr/share/demo"
# The image's user writes the chunk store.
chown 10001:10001 "$T/store" "$T/out"

NATS_PORT=$(free_port)
NATS_MON=$(free_port)
GW_PORT=$(free_port)
GRPC_PORT=$(free_port)
HEALTH_PORT=$(free_port)
DB="hub_image_$$"
GW="http://127.0.0.1:$GW_PORT"
JSZ="http://127.0.0.1:$NATS_MON/jsz?acc=\$G&consumers=true&config=true"

CONTAINERS=()
cleanup() {
  for c in "${CONTAINERS[@]}"; do "${P[@]}" rm -f "$c" >/dev/null 2>&1 || true; done
  [ -f "$T/nats.pid" ] && kill "$(cat "$T/nats.pid")" 2>/dev/null || true
  psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$DB\"" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# A step that cannot go on (no answer where one is needed) ends the run with its count.
trap 'bad "stopped at line $LINENO"; summary' ERR

nats-server -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON" -js -sd "$T/nats" -P "$T/nats.pid" \
  >"$T/nats.log" 2>&1 &
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$NATS_MON/varz" >/dev/null && break; sleep 0.1; done
psql "$PG_ADMIN_URL" -qc "CREATE DATABASE \"$DB\"" >/dev/null

# What the overlays give the pods: hub.toml from the base, the rest as HUB_* variables.
ENV=(
  -v "$ROOT/deploy/kubernetes/base/hub.toml:/etc/hub/hub.toml:ro"
  -e HUB_CONFIG=/etc/hub/hub.toml
  -e "HUB_DATABASE_URL=$PG_HOST_URL/$DB"
  -e "HUB_NATS_URL=nats://127.0.0.1:$NATS_PORT"
  -e "HUB_REDIS_URL=$REDIS_URL"
  -e HUB_STORE=dir:///store
  -v "$T/store:/store"
  -e "HUB_PUBLIC_URL=$GW"
  -e HUB_AUTH__AUTHENTICATION=false
  -e HUB_LOG__FORMAT=pretty
  -e "HUB_GATEWAY__LISTEN=127.0.0.1:$GW_PORT"
  -e "HUB_GATEWAY__GRPC_LISTEN=127.0.0.1:$GRPC_PORT"
)

# The consumers the production ScaledObjects read, from the rendered manifests' source.
mapfile -t CONSUMERS < <("$PYTHON" - "$ROOT/deploy/kubernetes/overlays/production/keda.yaml" <<'PY'
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    for trigger in (doc or {}).get("spec", {}).get("triggers", []):
        meta = trigger["metadata"]
        print(f"{meta['stream']} {meta['consumer']}")
PY
)
# KEDA's lag of one consumer: num_pending + num_ack_pending of it in /jsz ("missing" if absent).
lag() { # stream consumer
  curl -fsS "$JSZ" | "$PYTHON" -c '
import json, sys
stream, consumer = sys.argv[1], sys.argv[2]
for account in json.load(sys.stdin).get("account_details", []):
    for s in account.get("stream_detail") or []:
        if s["name"] == stream:
            for c in s.get("consumer_detail") or []:
                if c["name"] == consumer:
                    print(c["num_pending"] + c["num_ack_pending"]); sys.exit()
print("missing")' "$1" "$2"
}
wait_lag() { # stream consumer value seconds
  for _ in $(seq $(($4 * 5))); do [ "$(lag "$1" "$2")" = "$3" ] && return 0; sleep 0.2; done
  return 1
}

echo "image $IMAGE"
echo "== migrations (the hub-migrate Job's command)"
check "hub-gateway migrate exits 0" "${RUN[@]}" --rm "${ENV[@]}" "$IMAGE" hub-gateway migrate

echo "== the gateway alone"
"${RUN[@]}" -d --name "gw-$$" "${ENV[@]}" "$IMAGE" hub-gateway serve >/dev/null
CONTAINERS+=("gw-$$")
ready=false
for _ in $(seq 150); do curl -fs "$GW/readyz" >/dev/null && { ready=true; break; }; sleep 0.2; done
$ready || { "${P[@]}" logs "gw-$$" | tail -20; die "the gateway did not become ready"; }
ok "gateway ready: $(curl -fsS "$GW/readyz")"
check "the gateway runs as uid 10001" \
  test "$("${P[@]}" exec "gw-$$" id -u)" = 10001
read_only_root() { ! "${P[@]}" exec "gw-$$" touch /usr/local/bin/x 2>/dev/null; }
check "its root filesystem is read-only" read_only_root
check "it has no capabilities" \
  test "$("${P[@]}" exec "gw-$$" sh -c 'grep CapEff /proc/1/status' | awk '{print $2}')" = 0000000000000000
for pair in "${CONSUMERS[@]}"; do
  read -r stream consumer <<<"$pair"
  check "consumer $consumer of $stream exists for KEDA (lag $(lag "$stream" "$consumer"))" \
    test "$(lag "$stream" "$consumer")" = 0
done

echo "== a job while no worker runs (scaled to zero)"
echo "hello from the image test" >"$T/archive/etc/motd"
head -c 3000000 /dev/urandom >"$T/archive/usr/share/demo/random.bin"
ln -s ../etc/motd "$T/archive/usr/motd-link"
tar -czf "$T/first.tar.gz" -C "$T/archive" .
answer=$(curl -fsS -H 'Prefer: respond-async' -F "file=@$T/first.tar.gz" "$GW/api/flist/me/upload")
job=$(printf '%s' "$answer" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
ok "queued job $job"
check "KEDA sees lag 1 on hub_convert" wait_lag hub_jobs hub_convert 1 10

echo "== worker-convert starts and runs it"
"${RUN[@]}" -d --name "wc-$$" "${ENV[@]}" -e "HUB_HEALTH_LISTEN=127.0.0.1:$HEALTH_PORT" \
  "$IMAGE" hub-worker-convert >/dev/null
CONTAINERS+=("wc-$$")
state=""
for _ in $(seq 30); do
  state=$(curl -fsS "$GW/api/jobs/$job?wait=5s" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  case $state in succeeded | failed | cancelled) break ;; esac
done
check "job $job succeeded (status $state)" test "$state" = succeeded
check "worker readiness on its health port" curl -fsS -o /dev/null "http://127.0.0.1:$HEALTH_PORT/readyz"
check "the lag drops to 0" wait_lag hub_jobs hub_convert 0 10

echo "== a synchronous upload, downloaded and unpacked"
echo "second" >"$T/archive/etc/second"
tar -czf "$T/second.tar.gz" -C "$T/archive" .
code=$(curl -sS -o "$T/second.json" -w '%{http_code}' -F "file=@$T/second.tar.gz" "$GW/api/flist/me/upload")
check "POST /api/flist/me/upload answers 200 ($(head -c 200 "$T/second.json"))" test "$code" = 200
check "GET /Administrator/second.flist" \
  curl -fsS -o "$T/out/second.flist" "$GW/Administrator/second.flist"
# The image's user reads it (missing after a failed download: the next checks fail then).
[ -f "$T/out/second.flist" ] && chown 10001:10001 "$T/out/second.flist"
check "the image's hubctl unpacks it from the store" \
  "${RUN[@]}" --rm -v "$T/store:/store:ro" -v "$T/out:/out" "$IMAGE" \
  hubctl flist unpack /out/second.flist --store dir:///store /out/tree
check "the unpacked tree is the archive's, byte for byte" diff -r --no-dereference "$T/archive" "$T/out/tree"

echo "== SIGTERM"
for c in "wc-$$" "gw-$$"; do
  start=$SECONDS
  "${P[@]}" stop -t 60 "$c" >/dev/null
  code=$("${P[@]}" inspect "$c" --format '{{.State.ExitCode}}')
  check "$c stops on SIGTERM with status 0 in $((SECONDS - start)) s (status $code)" test "$code" = 0
done

trap - ERR
summary
if [ "$FAILED" -ne 0 ]; then exit 1; fi
