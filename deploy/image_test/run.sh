#!/usr/bin/env bash
# `make image-test`: the Dockerfile's `cpu` target built as it is, without a Docker engine
# (buildah and podman, daemonless), then the image and the compose stack tested on 127.0.0.1 by
# deploy/image_test/test_*.py. Where a Docker engine runs, `docker build` needs none of this.
#
# Needs the project's venv (`make install`) and, when podman, buildah, debootstrap or prometheus
# are missing, root on Debian to apt-get them. Environment:
#   RAAS_IMAGE_WORK  container storage and logs (default .image-test/ in the checkout)
#   RAAS_IMAGE_KEEP  1: keep the storage (and so the image and its layer cache) afterwards
#   RAAS_BASE_PULL   1: pull the Dockerfile's base image instead of bootstrapping a stand-in
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=${RAAS_IMAGE_WORK:-$ROOT/.image-test}
VENV=${VENV:-$ROOT/.venv}
IMAGE=localhost/raas:cpu
# the Dockerfile's PYTHON_IMAGE, fully qualified as `FROM` resolves it
BASE=$(sed -n 's/^ARG PYTHON_IMAGE=//p' Dockerfile)
case $BASE in */*) ;; *) BASE=docker.io/library/$BASE ;; esac
START=$SECONDS
step() { echo "### image-test $((SECONDS - START))s: $*"; }
trap 'echo "### image-test failed: line $LINENO: $BASH_COMMAND" >&2' ERR

step "tools"
PACKAGES=(podman buildah runc uidmap containernetworking-plugins golang-github-containers-common
  catatonit debootstrap prometheus)
missing=0
for tool in podman buildah runc debootstrap prometheus promtool; do
  command -v "$tool" > /dev/null || missing=1
done
if [ "$missing" = 1 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null; then
    echo "needs ${PACKAGES[*]} (Debian packages; as root this script installs them)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" \
    > /dev/null
fi
[ -x "$VENV/bin/podman-compose" ] || { echo "no $VENV/bin/podman-compose: make install" >&2; exit 1; }
podman --version; buildah --version; "$VENV/bin/podman-compose" --version 2> /dev/null | head -1
prometheus --version 2>&1 | head -1

# Own storage and engine settings, so nothing here touches another podman user of this machine.
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cat > "$WORK/storage.conf" << EOF
[storage]
driver = "overlay"
runroot = "$WORK/run"
graphroot = "$WORK/storage"
EOF
cat > "$WORK/containers.conf" << 'EOF'
[containers]
# podman's default ulimits exceed this machine's hard limits (no CAP_SYS_RESOURCE here)
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"             # crun cannot set up hybrid cgroups
cgroup_manager = "cgroupfs"  # no systemd
events_logger = "file"
EOF
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf CONTAINERS_CONF=$WORK/containers.conf
cleanup() {
  podman pod rm -a -f > /dev/null 2>&1 || true
  podman rm -a -f -t 5 > /dev/null 2>&1 || true
  if [ "${RAAS_IMAGE_KEEP:-0}" != 1 ]; then
    podman rmi -a -f > /dev/null 2>&1 || true  # unmounts its layers: then the storage can go
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

if ! podman image exists "$BASE"; then
  if [ "${RAAS_BASE_PULL:-0}" = 1 ]; then
    step "base image: pulling $BASE"
    podman pull -q "$BASE" > /dev/null
  else
    step "base image: a stand-in for $BASE bootstrapped from Debian"
    deploy/image_test/base_image.sh "$WORK" "$BASE"
  fi
fi

# RUN steps reach the package index as this host does: its CA bundle, its index and the local
# wheel folders it is configured with (where the CPU torch wheel lies when the PyTorch index
# cannot be reached). Mounted for the build only: nothing of it ends up in the image.
readarray -t PIP_SETUP < <("$VENV/bin/python" deploy/image_test/pip_setup.py "$WORK/pip.conf")
MOUNTS=()
for mount in "${PIP_SETUP[@]}"; do MOUNTS+=(-v "$mount"); done

disk_free() { df -h "$WORK" | awk 'NR == 2 {print $4 " free of " $2}'; }
build() {
  buildah bud --isolation chroot --network host --pull-never --format docker --layers \
    "${MOUNTS[@]}" --target cpu -t "$IMAGE" -f Dockerfile . > "$WORK/build.log" 2>&1
}
# The build peaks near 12 GB in $WORK (layers are stored as they are committed, then copied
# into the next stage). A commit that fails writing its layer ("storing layer", "no space left")
# is the storage, not the Dockerfile: the finished steps stay cached and it is tried once more.
step "build --target cpu (Dockerfile as it is; log: $WORK/build.log; disk: $(disk_free))"
build_start=$SECONDS
if ! build; then
  tail -40 "$WORK/build.log" >&2
  echo "### image build failed; disk: $(disk_free)" >&2
  grep -q -E "storing layer|no space left" "$WORK/build.log" || exit 1
  step "build: the layer store failed; building once more"
  buildah rm -a > /dev/null 2>&1 || true
  if ! build; then
    tail -40 "$WORK/build.log" >&2
    echo "### image build failed again; disk: $(disk_free)" >&2
    exit 1
  fi
fi
BUILD_S=$((SECONDS - build_start))
SIZE=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "### image build: ${BUILD_S}s (base image included: $((SECONDS - START))s since the start)," \
  "image $IMAGE: $((SIZE / 1000000)) MB"

if [ "${RAAS_IMAGE_KEEP:-0}" != 1 ]; then  # the build stages' layers: not needed to run it
  buildah rm -a > /dev/null 2>&1 || true
  podman image prune -f > /dev/null 2>&1 || true
fi

step "tests: the image and the compose stack (disk: $(disk_free))"
RAAS_IMAGE=$IMAGE RAAS_IMAGE_WORK=$WORK PODMAN_COMPOSE=$VENV/bin/podman-compose \
  "$VENV/bin/python" -m pytest -v -p no:cacheprovider \
  deploy/image_test/test_image.py deploy/image_test/test_compose.py \
  -o log_cli=true --log-cli-level=INFO --log-cli-format='%(message)s'
step "done"
