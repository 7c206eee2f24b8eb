#!/usr/bin/env bash
# Builds the integration-test target image once and reuses it by tag.
#   CONVERGE_TEST_BASE   base image (default: a local debootstrap of Debian 12,
#                        since no registry is reachable here; ubuntu:24.04 where one is)
#   CONVERGE_TEST_IMAGE  tag of the target image (default converge/test-target:1)
# The root key converge's tests log in with lives in .cache/test-key(.pub).
# The image is rebuilt when test/image/Dockerfile, the key or the base changes
# (label converge.key holds a hash of them). Concurrent runs wait on a lock.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${CONVERGE_TEST_BASE:-converge/debian-base:bookworm}
IMAGE=${CONVERGE_TEST_IMAGE:-converge/test-target:1}
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"
exec 9>"$CACHE/build-test-image.lock"
flock 9
command -v ssh-keygen >/dev/null || { echo "build-test-image: ssh-keygen is missing (apt-get install -y openssh-client)" >&2; exit 1; }
[ -f "$CACHE/test-key" ] || ssh-keygen -q -t ed25519 -N '' -f "$CACHE/test-key" -C converge-test

stamp() { { cat "$ROOT/test/image/Dockerfile" "$CACHE/test-key.pub"; echo "$BASE"; } | sha256sum | cut -c1-16; }
if docker image inspect "$IMAGE" >/dev/null 2>&1 && \
   [ "$(docker image inspect -f '{{index .Config.Labels "converge.key"}}' "$IMAGE")" = "$(stamp)" ]; then
  exit 0
fi

if [ "$BASE" = converge/debian-base:bookworm ] && ! docker image inspect "$BASE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "build-test-image: debootstrap is missing (apt-get install -y debootstrap)" >&2; exit 1; }
  ROOTFS=$(mktemp -d /var/tmp/converge-rootfs.XXXX)
  echo "build-test-image: debootstrap bookworm into $ROOTFS (about 75 s)" >&2
  debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian >/var/tmp/converge-debootstrap.log 2>&1 \
    || { tail -20 /var/tmp/converge-debootstrap.log >&2; rm -rf "$ROOTFS"; exit 1; }
  printf 'deb http://deb.debian.org/debian bookworm main\ndeb http://deb.debian.org/debian bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    > "$ROOTFS/etc/apt/sources.list"
  tar -C "$ROOTFS" -c . | docker import - "$BASE" >/dev/null
  rm -rf "$ROOTFS"
fi

CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT
cp "$ROOT/test/image/Dockerfile" "$CTX/"
cp "$CACHE/test-key.pub" "$CTX/key.pub"
echo "build-test-image: building $IMAGE from $BASE (about 2 min; log in $CACHE/build-test-image.log)" >&2
docker build --build-arg BASE="$BASE" --label converge.key="$(stamp)" -t "$IMAGE" "$CTX" >"$CACHE/build-test-image.log" 2>&1 \
  || { tail -30 "$CACHE/build-test-image.log" >&2; exit 1; }
# The image this one replaced (now untagged) is of no further use.
docker image prune -f --filter label=converge.key >/dev/null 2>&1 || true
echo "build-test-image: built $IMAGE" >&2
