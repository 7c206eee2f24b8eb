#!/usr/bin/env bash
# Builds the integration-test target image of one Debian release and reuses it by tag.
#   scripts/build-test-image.sh [--tag-only] [RELEASE]
#     RELEASE: bookworm (default) or trixie (or CONVERGE_TEST_RELEASE)
#     --tag-only: print the tag the image has (or would have), build nothing
#   CONVERGE_TEST_BASE   base image (default: a local debootstrap of RELEASE,
#                        since no registry is reachable here)
# Prints the image's tag on stdout: converge/test-target:RELEASE-STAMP, where
# STAMP hashes the Dockerfile, the login key and the base. Two checkouts on one
# machine (each with its own .cache/test-key) thus build two images and never
# rebuild each other's under running tests.
# The root key converge's tests log in with lives in .cache/test-key(.pub).
# Concurrent runs wait on a lock.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG_ONLY=
if [ "${1:-}" = --tag-only ]; then TAG_ONLY=1; shift; fi
RELEASE=${1:-${CONVERGE_TEST_RELEASE:-bookworm}}
case "$RELEASE" in
  bookworm|trixie) ;;
  *) echo "build-test-image: unknown release '$RELEASE' (bookworm or trixie)" >&2; exit 1 ;;
esac
BASE=${CONVERGE_TEST_BASE:-converge/debian-base:$RELEASE}
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"
if [ -z "$TAG_ONLY" ]; then
  exec 9>"$CACHE/build-test-image.lock"
  flock 9
fi
command -v ssh-keygen >/dev/null || { echo "build-test-image: ssh-keygen is missing (apt-get install -y openssh-client)" >&2; exit 1; }
[ -f "$CACHE/test-key" ] || ssh-keygen -q -t ed25519 -N '' -f "$CACHE/test-key" -C converge-test

STAMP=$({ cat "$ROOT/test/image/Dockerfile" "$CACHE/test-key.pub"; echo "$BASE"; } | sha256sum | cut -c1-12)
IMAGE=converge/test-target:$RELEASE-$STAMP
if [ -n "$TAG_ONLY" ]; then echo "$IMAGE"; exit 0; fi
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi

if [ "$BASE" = "converge/debian-base:$RELEASE" ] && ! docker image inspect "$BASE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "build-test-image: debootstrap is missing (apt-get install -y debootstrap)" >&2; exit 1; }
  ROOTFS=$(mktemp -d /var/tmp/converge-rootfs.XXXX)
  echo "build-test-image: debootstrap $RELEASE into $ROOTFS (about 75 s)" >&2
  debootstrap --variant=minbase "$RELEASE" "$ROOTFS" http://deb.debian.org/debian >"/var/tmp/converge-debootstrap-$RELEASE.log" 2>&1 \
    || { tail -20 "/var/tmp/converge-debootstrap-$RELEASE.log" >&2; rm -rf "$ROOTFS"; exit 1; }
  printf 'deb http://deb.debian.org/debian %s main\ndeb http://deb.debian.org/debian %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
    "$RELEASE" "$RELEASE" "$RELEASE" > "$ROOTFS/etc/apt/sources.list"
  # trixie's debootstrap writes deb822 sources as well; one list is enough.
  rm -f "$ROOTFS/etc/apt/sources.list.d/debian.sources"
  tar -C "$ROOTFS" -c . | docker import - "$BASE" >/dev/null
  rm -rf "$ROOTFS"
fi

CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT
cp "$ROOT/test/image/Dockerfile" "$CTX/"
cp "$CACHE/test-key.pub" "$CTX/key.pub"
LOG="$CACHE/build-test-image-$RELEASE.log"
echo "build-test-image: building $IMAGE from $BASE (about 2 min; log in $LOG)" >&2
docker build --build-arg BASE="$BASE" --label converge.release="$RELEASE" --label converge.stamp="$STAMP" -t "$IMAGE" "$CTX" >"$LOG" 2>&1 \
  || { tail -30 "$LOG" >&2; exit 1; }
echo "build-test-image: built $IMAGE" >&2
echo "$IMAGE"
