"""Give a built image's config one date, SOURCE_DATE_EPOCH, so that its ID is reproducible.

    python3 docker/fix_image_dates.py IMAGE EPOCH [DOCKER]

An image ID is the sha256 of the image's config, which holds the date of the build and of
each step (``created``). BuildKit from v0.11 sets them from the ``SOURCE_DATE_EPOCH`` build
argument; the BuildKit inside Docker Engine 20.10 (Debian bookworm's ``docker.io``, CI's
engine) ignores it. This script does the same afterwards: it reads the config from
``docker save IMAGE``, sets every ``created`` to EPOCH and loads the new config under the same
tag. The layers are not rewritten, nor read again: ``docker load`` reuses layers the engine
already has, so the archive it is given holds only the config and the manifest. The image
that IMAGE named before is removed when nothing else names it. Prints the new image ID.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from hashlib import sha256


def saved_config(docker: str, image: str) -> tuple[dict, list[str]]:
    """The image's config and its manifest's layer paths, from ``docker save``'s stream."""
    config_bytes: dict[str, bytes] = {}
    manifest = None
    with (
        subprocess.Popen([docker, "save", image], stdout=subprocess.PIPE) as save,
        tarfile.open(fileobj=save.stdout, mode="r|") as archive,
    ):
        for member in archive:
            if member.name == "manifest.json":
                manifest = json.load(archive.extractfile(member))
            elif member.isfile() and member.name.endswith(".json") and "/" not in member.name:
                config_bytes[member.name] = archive.extractfile(member).read()
    if save.returncode != 0 or manifest is None:
        sys.exit(f"fix_image_dates: docker save {image} failed")
    (entry,) = manifest
    return json.loads(config_bytes[entry["Config"]]), entry["Layers"]


def with_dates(config: dict, epoch: int) -> dict:
    """The config with its own and every history step's ``created`` set to EPOCH."""
    created = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    history = [{**step, "created": created} for step in config.get("history", [])]
    return {**config, "created": created, "history": history}


def load(docker: str, image: str, config: dict, layers: list[str]) -> str:
    """Load CONFIG as IMAGE (its layers are in the engine already); return the new ID."""
    raw = json.dumps(config, separators=(",", ":")).encode()
    image_id = sha256(raw).hexdigest()
    manifest = [{"Config": f"{image_id}.json", "RepoTags": [image], "Layers": layers}]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (
            (f"{image_id}.json", raw),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    subprocess.run(
        [docker, "load", "--quiet"], input=buffer.getvalue(), check=True, stdout=subprocess.DEVNULL
    )
    return f"sha256:{image_id}"


def main() -> None:
    image, epoch = sys.argv[1], int(sys.argv[2])
    docker = sys.argv[3] if len(sys.argv) > 3 else "docker"
    before = subprocess.run(
        [docker, "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    config, layers = saved_config(docker, image)
    after = load(docker, image, with_dates(config, epoch), layers)
    if after != before:
        subprocess.run([docker, "image", "rm", before], capture_output=True)
    print(after)


if __name__ == "__main__":
    main()
