#!/usr/bin/env bash
# A stand-in for the Dockerfile's base image (python:3.11-slim-bookworm) where no registry is
# reachable: Debian bookworm's python3.11 (venv, pip; `python` on PATH) bootstrapped from the
# Debian mirror apt already uses, imported under the base image's own name.
#   base_image.sh WORKDIR IMAGE
set -euo pipefail
WORK=${1:?workdir}; IMAGE=${2:?image name}
ROOTFS=$(realpath -m "$WORK/rootfs")
TAG=${IMAGE##*:}                               # 3.11-slim-bookworm
PY=python${TAG%%-*}; SUITE=${TAG##*-}          # python3.11, bookworm
MIRROR=${RAAS_DEBIAN_MIRROR:-}
if [ -z "$MIRROR" ]; then
  MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list.d/*.list 2> /dev/null \
    | awk '/^URIs:/ {print $2} /^deb / {print ($2 ~ /^\[/ ? $3 : $2)}' | grep -v security | head -1 \
    || true)
fi
[ -n "$MIRROR" ] || { echo "no Debian mirror found in apt's sources; set RAAS_DEBIAN_MIRROR" >&2; exit 1; }

# debootstrap mounts /proc (and more) inside the root while it installs and unmounts them at its
# end, but not always: once seen in a run of this script, a /proc left mounted there made `tar`
# archive the host's /proc and `rm` fail. Whatever is still mounted under the root is unmounted
# before it is archived or removed, and `tar` stays on the root's own file system.
unmount_under() {
  local target
  awk -v root="$1" 'index($2, root "/") == 1 {print $2}' /proc/self/mounts | sort -r \
    | while read -r target; do umount "$target" 2> /dev/null || umount -l "$target"; done
}
trap 'unmount_under "$ROOTFS"' EXIT

if [ ! -x "$ROOTFS/usr/bin/$PY" ]; then
  unmount_under "$ROOTFS"
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase \
    --include=$PY,$PY-venv,python3-pip,python3-venv,ca-certificates,netbase,tzdata \
    "$SUITE" "$ROOTFS" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
fi
# as slim as the real one: no apt lists, docs, man pages or locales
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/*
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -f "$ROOTFS/usr/lib/$PY/EXTERNALLY-MANAGED"
for name in python python3 "$PY"; do ln -sf "/usr/bin/$PY" "$ROOTFS/usr/local/bin/$name"; done
for name in pip pip3 "pip${PY#python}"; do ln -sf /usr/bin/pip3 "$ROOTFS/usr/local/bin/$name"; done
: > "$ROOTFS/etc/resolv.conf"
unmount_under "$ROOTFS"
tar --numeric-owner --one-file-system -C "$ROOTFS" -c . | podman import -q \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$IMAGE" > /dev/null
rm -rf "$ROOTFS"
