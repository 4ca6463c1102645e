#!/usr/bin/env bash
# Writes the root filesystem of the hub's base image as a tar stream on stdout, made from Debian
# packages only (no image registry): debootstrap of bookworm (minbase) with ca-certificates (TLS
# to registries and OTLP collectors) and tini (PID 1), the unprivileged user `hub` (10001:10001),
# without apt lists, documentation or locales.
#   deploy/container/base.sh [MIRROR] | podman import - localhost/zero-os-hub-base:bookworm
# Needs root (debootstrap, chroot) and the debootstrap package.
set -euo pipefail
MIRROR=${1:-http://deb.debian.org/debian}
ROOTFS=$(mktemp -d)
cleanup() {
  # debootstrap unmounts what it mounted when it succeeds; make sure before deleting.
  for mnt in proc sys dev/pts dev; do
    mountpoint -q "$ROOTFS/$mnt" 2>/dev/null && umount -l "$ROOTFS/$mnt"
  done
  rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT
if ! debootstrap --variant=minbase --include=ca-certificates,tini bookworm "$ROOTFS" "$MIRROR" \
  >"$ROOTFS.log" 2>&1; then
  tail -n 30 "$ROOTFS.log" >&2
  exit 1
fi
rm -f "$ROOTFS.log"
# mktemp made the directory 0700: it becomes the image's `/`, which every user must traverse.
chmod 0755 "$ROOTFS"
chroot "$ROOTFS" groupadd --gid 10001 hub
chroot "$ROOTFS" useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
  --shell /usr/sbin/nologin hub
rm -rf "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* \
  "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/* "$ROOTFS"/var/log/*
tar --numeric-owner -C "$ROOTFS" -c .
