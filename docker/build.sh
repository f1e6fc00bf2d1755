#!/usr/bin/env bash
# Build the vlmeval image with BuildKit: what `make image` runs.
#
# Environment (all optional):
#   IMAGE          tag to build (vlmeval:latest)
#   BASE_IMAGE     --build-arg BASE_IMAGE (default: the Dockerfile's CUDA runtime image)
#   VERSION        image version (pyproject's); REVISION (git HEAD, -dirty when the tree
#                  has changes) is filled in when unset
#   SOURCE_DATE_EPOCH  the one date of the image (default: the commit's time, git HEAD): the
#                  mtime of the project's files, every date of the image config and
#                  BUILD_DATE's default, so that two builds of one commit on one base give
#                  the same image ID (see docker/Dockerfile and docker/fix_image_dates.py)
#   DOCKER         the docker CLI (docker). BuildKit comes from `docker buildx` when the
#                  plugin is there, else from a CLI older than 23 with BuildKit built in
#                  (Debian's docker.io, /usr/bin/docker), found on its own.
#   CA_BUNDLE      a CA bundle for pip (default $PIP_CERT when it is a file), passed as the
#                  BuildKit secret ca_bundle; PIP_CONF, a pip.conf, as the secret pip_conf.
#                  Secrets are mounted for one RUN step and never stored in a layer.
#   BUILD_NETWORK  network of the RUN steps (e.g. host, where only the host reaches PyPI)
#   LOCAL_INDEXES  space-separated local PEP 503 index directories (.../simple) holding
#                  wheels of the lock, e.g. torch: served on 127.0.0.1 for the build's
#                  duration and put ahead of PyPI (with host networking, through a generated
#                  pip_conf secret), so pip takes those wheels from disk; the lock's hashes
#                  are checked as for any download.
#   BUILD_FLAGS    further flags for the build command
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-vlmeval:latest}
DOCKER=${DOCKER:-docker}
VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)}
if [ -z "${REVISION:-}" ]; then
    REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
    if [ "$REVISION" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        REVISION="$REVISION-dirty"
    fi
fi
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 315532800)}
BUILD_DATE=${BUILD_DATE:-$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)}
SOURCE=${SOURCE:-$(git remote get-url origin 2>/dev/null || true)}
case "$SOURCE" in /*|file:*) SOURCE="" ;; esac  # a local clone is no public source
CA_BUNDLE=${CA_BUNDLE:-${PIP_CERT:-}}

# The build command: buildx when present, else a pre-23 CLI's built-in BuildKit.
build=()
if "$DOCKER" buildx version >/dev/null 2>&1; then
    build=("$DOCKER" buildx build --load)
else
    for cli in "$DOCKER" /usr/bin/docker; do
        major=$("$cli" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1) || continue
        if [ -n "$major" ] && [ "$major" -lt 23 ]; then
            build=(env DOCKER_BUILDKIT=1 "$cli" build)
            break
        fi
    done
fi
if [ "${#build[@]}" -eq 0 ]; then
    echo "docker/build.sh: no BuildKit builder: install the docker buildx plugin" \
        "(docker-buildx-plugin), or set DOCKER to a CLI with BuildKit built in" >&2
    exit 1
fi

args=(-f docker/Dockerfile -t "$IMAGE"
    --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION"
    --build-arg "BUILD_DATE=$BUILD_DATE" --build-arg "SOURCE=$SOURCE"
    --build-arg "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH")
if [ -n "${BASE_IMAGE:-}" ]; then
    args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
fi
if [ -n "$CA_BUNDLE" ] && [ -f "$CA_BUNDLE" ]; then
    args+=(--secret "id=ca_bundle,src=$CA_BUNDLE")
fi
if [ -n "${PIP_CONF:-}" ]; then
    args+=(--secret "id=pip_conf,src=$PIP_CONF")
fi

server_pid=""
serve_dir=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    if [ -n "$serve_dir" ]; then rm -rf "$serve_dir" "$serve_dir.log" "$serve_dir.conf"; fi
}
trap cleanup EXIT

if [ -n "${LOCAL_INDEXES:-}" ]; then
    serve_dir=$(mktemp -d)
    urls=()
    n=0
    for index in $LOCAL_INDEXES; do
        index=${index#file://}
        [ -d "$index" ] || { echo "docker/build.sh: no index directory $index" >&2; exit 1; }
        # Serve the index's parent: its pages link to ../../files/<wheel>#sha256=...
        ln -s "$(cd "$index/.." && pwd)" "$serve_dir/$n"
        urls+=("$n/$(basename "$index")/")
        n=$((n + 1))
    done
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 -m http.server --bind 127.0.0.1 --directory "$serve_dir" "$port" \
        >"$serve_dir.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 50); do
        if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if [ -n "${PIP_CONF:-}" ]; then
        echo "docker/build.sh: LOCAL_INDEXES and PIP_CONF cannot be combined" >&2
        exit 1
    fi
    # First the local indexes, then PyPI: of two files with the same name and an allowed
    # hash, pip takes the one from the first index. The addresses reach pip as the pip_conf
    # secret, so the (random) port is neither in the build cache key nor in any layer.
    base="http://127.0.0.1:$port"
    {
        echo "[global]"
        echo "index-url = $base/${urls[0]}"
        echo "extra-index-url ="
        for url in "${urls[@]:1}"; do echo "    $base/$url"; done
        echo "    https://pypi.org/simple/"
    } >"$serve_dir.conf"
    args+=(--network host --secret "id=pip_conf,src=$serve_dir.conf")
    echo "docker/build.sh: local wheels from $LOCAL_INDEXES on $base (then PyPI)"
elif [ -n "${BUILD_NETWORK:-}" ]; then
    args+=(--network "$BUILD_NETWORK")
fi

set -x
# shellcheck disable=SC2086  # BUILD_FLAGS is a list of flags
"${build[@]}" "${args[@]}" ${BUILD_FLAGS:-} .
python3 docker/fix_image_dates.py "$IMAGE" "$SOURCE_DATE_EPOCH" "$DOCKER"
