"""Downloads into the data dir against a real HTTP server on 127.0.0.1: good, truncated,
wrong, missing and broken-off transfers; offline mode; the sha256 record; mirrors."""

from __future__ import annotations

import dataclasses
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from catalog_fixtures import RED, Server, md5_of, tsv_bytes
from vlmeval_core.datasets import download
from vlmeval_core.datasets.on_disk import dataset_path, ensure_on_disk
from vlmeval_core.datasets.registry import DATASETS, resolve_dataset
from vlmeval_core.errors import RuntimeFailure

GOOD = tsv_bytes(
    pd.DataFrame(
        {"index": [0], "question": ["Q?"], "A": ["x"], "B": ["y"], "answer": ["A"], "image": [RED]}
    )
)
OTHER = GOOD.replace(b"Q?", b"R?")


@pytest.fixture
def server():
    with Server() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("VLMEVAL_DATA_") or name in ("VLMEVAL_OFFLINE", "HF_HUB_OFFLINE"):
            monkeypatch.delenv(name)


def entry_at(url: str, md5: str | None = md5_of(GOOD), name: str = "MMStar"):
    return dataclasses.replace(DATASETS[name], url=url, md5=md5)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_a_good_file_is_streamed_checked_and_renamed_into_place(server, tmp_path):
    entry = entry_at(server.serve("/MMStar.tsv", ("ok", GOOD)))
    fetched = download.ensure_dataset(entry, tmp_path, progress=False)
    assert fetched == download.Fetched(tmp_path / "MMStar.tsv", md5_of(GOOD), True)
    assert fetched.path.read_bytes() == GOOD
    assert leftovers(tmp_path) == []
    again = download.ensure_dataset(entry, tmp_path, progress=False)
    assert again.downloaded is False
    assert server.hits["/MMStar.tsv"] == 1  # the file there with the right md5 is used as is


def test_a_present_file_with_the_right_md5_needs_no_network(tmp_path):
    (tmp_path / "MMStar.tsv").write_bytes(GOOD)
    entry = entry_at("http://127.0.0.1:9/unreachable.tsv")
    assert download.ensure_dataset(entry, tmp_path, progress=False).downloaded is False


def test_a_wrong_present_file_is_downloaded_again_once(server, tmp_path):
    (tmp_path / "MMStar.tsv").write_bytes(OTHER)
    entry = entry_at(server.serve("/MMStar.tsv", ("ok", GOOD)))
    assert download.ensure_dataset(entry, tmp_path, progress=False).downloaded is True
    assert (tmp_path / "MMStar.tsv").read_bytes() == GOOD
    assert server.hits["/MMStar.tsv"] == 1


def test_a_wrong_present_file_and_a_wrong_download_stop_naming_url_and_both_md5s(server, tmp_path):
    (tmp_path / "MMStar.tsv").write_bytes(OTHER)
    url = server.serve("/MMStar.tsv", ("ok", OTHER))
    with pytest.raises(RuntimeFailure) as caught:
        download.ensure_dataset(entry_at(url), tmp_path, progress=False)
    message = str(caught.value)
    assert url in message and md5_of(OTHER) in message and md5_of(GOOD) in message
    assert caught.value.exit_code == 3
    assert server.hits["/MMStar.tsv"] == 1
    assert leftovers(tmp_path) == []


def test_a_wrong_download_is_tried_once_more_then_stops(server, tmp_path):
    url = server.serve("/MMStar.tsv", ("ok", OTHER))
    with pytest.raises(RuntimeFailure, match=r"has md5 \w+, expected \w+") as caught:
        download.ensure_dataset(entry_at(url), tmp_path, progress=False)
    assert url in str(caught.value) and md5_of(OTHER) in str(caught.value)
    assert server.hits["/MMStar.tsv"] == 2
    assert not (tmp_path / "MMStar.tsv").exists()
    assert leftovers(tmp_path) == []


def test_a_wrong_download_then_a_right_one_succeeds(server, tmp_path):
    url = server.serve("/MMStar.tsv", ("ok", OTHER), ("ok", GOOD))
    assert download.ensure_dataset(entry_at(url), tmp_path, progress=False).downloaded
    assert (tmp_path / "MMStar.tsv").read_bytes() == GOOD
    assert server.hits["/MMStar.tsv"] == 2


@pytest.mark.parametrize("behaviour", ["truncated", "stop"])
def test_a_broken_transfer_never_leaves_a_file_under_the_final_name(server, tmp_path, behaviour):
    url = server.serve("/MMStar.tsv", (behaviour, GOOD))
    with pytest.raises(RuntimeFailure, match="failed twice") as caught:
        download.ensure_dataset(entry_at(url), tmp_path, progress=False)
    assert url in str(caught.value)
    if behaviour == "truncated":
        assert f"of {len(GOOD)} bytes arrived" in str(caught.value)
    assert server.hits["/MMStar.tsv"] == 2
    assert not (tmp_path / "MMStar.tsv").exists()
    assert leftovers(tmp_path) == []


def test_a_broken_transfer_then_a_good_one_succeeds(server, tmp_path):
    url = server.serve("/MMStar.tsv", ("truncated", GOOD), ("ok", GOOD))
    assert download.ensure_dataset(entry_at(url), tmp_path, progress=False).downloaded
    assert (tmp_path / "MMStar.tsv").read_bytes() == GOOD


def test_a_404_stops_at_once_naming_the_url(server, tmp_path):
    url = server.url + "/nothing/MMStar.tsv"
    with pytest.raises(RuntimeFailure, match="HTTP 404") as caught:
        download.ensure_dataset(entry_at(url), tmp_path, progress=False)
    assert url in str(caught.value)
    assert server.hits["/nothing/MMStar.tsv"] == 1
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_server_is_a_runtime_failure(tmp_path):
    with pytest.raises(RuntimeFailure, match=r"cannot reach http://127\.0\.0\.1:9/"):
        download.ensure_dataset(entry_at("http://127.0.0.1:9/x.tsv"), tmp_path, progress=False)


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "VLMEVAL_OFFLINE"])
def test_offline_a_missing_file_names_the_file_and_its_url(server, tmp_path, monkeypatch, variable):
    monkeypatch.setenv(variable, "1")
    url = server.serve("/MMStar.tsv", ("ok", GOOD))
    with pytest.raises(RuntimeFailure) as caught:
        download.ensure_dataset(entry_at(url), tmp_path, progress=False)
    message = str(caught.value)
    assert str(tmp_path / "MMStar.tsv") in message and url in message and "offline" in message
    assert server.hits.get("/MMStar.tsv", 0) == 0


def test_offline_a_present_good_file_is_used_and_a_wrong_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMEVAL_OFFLINE", "true")
    entry = entry_at("http://127.0.0.1:9/MMStar.tsv")
    (tmp_path / "MMStar.tsv").write_bytes(GOOD)
    assert download.ensure_dataset(entry, tmp_path, progress=False).downloaded is False
    (tmp_path / "MMStar.tsv").write_bytes(OTHER)
    with pytest.raises(RuntimeFailure, match=f"has md5 {md5_of(OTHER)}, expected"):
        download.ensure_dataset(entry, tmp_path, progress=False)
    assert (tmp_path / "MMStar.tsv").read_bytes() == OTHER  # nothing of the user's is removed


def test_without_a_published_md5_the_first_download_is_pinned_by_sha256(server, tmp_path):
    url = server.serve("/A-OKVQA.tsv", ("ok", GOOD), ("ok", OTHER))
    entry = entry_at(url, md5=None, name="A-OKVQA")
    assert download.ensure_dataset(entry, tmp_path, progress=False).downloaded
    record = tmp_path / "A-OKVQA.tsv.sha256"
    sha = download.hash_file(tmp_path / "A-OKVQA.tsv")[1]
    assert record.read_text() == f"{sha}  A-OKVQA.tsv\n"  # sha256sum's format
    assert download.ensure_dataset(entry, tmp_path, progress=False).downloaded is False

    (tmp_path / "A-OKVQA.tsv").write_bytes(b"damaged")  # a later use finds another file
    with pytest.raises(RuntimeFailure) as caught:  # and the server now serves another one
        download.ensure_dataset(entry, tmp_path, progress=False)
    message = str(caught.value)
    assert sha in message and "delete" in message and str(record) in message
    assert record.read_text().startswith(sha)


def test_a_file_placed_by_hand_without_a_published_md5_is_pinned_on_first_use(tmp_path):
    (tmp_path / "A-OKVQA.tsv").write_bytes(GOOD)
    entry = entry_at("http://127.0.0.1:9/a-okvqa.tsv", md5=None, name="A-OKVQA")
    assert download.ensure_dataset(entry, tmp_path, progress=False).downloaded is False
    assert (
        (tmp_path / "A-OKVQA.tsv.sha256")
        .read_text()
        .startswith(download.hash_file(tmp_path / "A-OKVQA.tsv")[1])
    )


def test_vlmevalkits_older_file_name_is_used_when_it_checks_out(tmp_path):
    entry = entry_at("http://127.0.0.1:9/data/a-okvqa.tsv", name="A-OKVQA")
    (tmp_path / "a-okvqa.tsv").write_bytes(GOOD)
    assert download.local_path(entry, tmp_path) == tmp_path / "a-okvqa.tsv"
    assert download.ensure_dataset(entry, tmp_path, progress=False).path == (
        tmp_path / "a-okvqa.tsv"
    )


def test_overrides_for_mirrors(monkeypatch):
    entry = DATASETS["MMBench_DEV_EN"]
    assert download.source_of(entry, {}) == download.Source(entry.url, entry.md5, False)
    base = {"VLMEVAL_DATA_URL_BASE": "file:///mnt/mirror/"}
    assert download.source_of(entry, base).url == "file:///mnt/mirror/MMBench_DEV_EN.tsv"
    own = {**base, "VLMEVAL_DATA_URL_MMBENCH_DEV_EN": "https://m.example/x.tsv"}
    assert download.source_of(entry, own) == download.Source(
        "https://m.example/x.tsv", entry.md5, True
    )
    md5 = {"VLMEVAL_DATA_MD5_A_OKVQA": "0" * 32}
    assert download.source_of(DATASETS["A-OKVQA"], md5).md5 == "0" * 32
    assert download.env_key("A-OKVQA") == "A_OKVQA"


def test_a_file_url_mirror_works(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "MMStar.tsv").write_bytes(GOOD)
    monkeypatch.setenv("VLMEVAL_DATA_URL_BASE", mirror.as_uri())
    monkeypatch.setenv("VLMEVAL_DATA_MD5_MMSTAR", md5_of(GOOD))
    fetched = download.ensure_dataset(DATASETS["MMStar"], tmp_path / "data", progress=False)
    assert fetched.path.read_bytes() == GOOD


def test_a_data_dir_that_cannot_be_created_says_what_to_do(server):
    # /proc refuses new entries even to root, so this holds whoever runs the tests.
    url = server.serve("/MMStar.tsv", ("ok", GOOD))
    with pytest.raises(RuntimeFailure, match="cannot create the data dir /proc/") as caught:
        download.ensure_dataset(entry_at(url), Path("/proc/vlmeval-test/data"), progress=False)
    assert url in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_read_only_data_dir_without_the_file_says_what_to_do(server, tmp_path):
    data = tmp_path / "ro"
    data.mkdir(mode=0o555)
    url = server.serve("/MMStar.tsv", ("ok", GOOD))
    with pytest.raises(RuntimeFailure, match="not writable") as caught:
        download.ensure_dataset(entry_at(url), data, progress=False)
    assert url in str(caught.value)


def test_rank_zero_prepare_downloads_and_every_rank_finds_the_same_path(
    server, tmp_path, monkeypatch
):
    monkeypatch.setenv("VLMEVAL_DATA_URL_BASE", server.url + "/m")
    monkeypatch.setenv("VLMEVAL_DATA_MD5_MMSTAR", md5_of(GOOD))
    server.serve("/m/MMStar.tsv", ("ok", GOOD))
    ref = resolve_dataset("mmstar")
    data, run = tmp_path / "data", tmp_path / "run"
    assert dataset_path(ref, data, run, 0) == data / "MMStar.tsv"
    assert ensure_on_disk(ref, data, run, 0) == data / "MMStar.tsv"
    assert (data / "MMStar.tsv").read_bytes() == GOOD


def test_a_redirect_is_followed_to_the_file(server, tmp_path):
    """The hub's resolve/main URLs (A-OKVQA's) answer with a redirect to a CDN."""
    target = server.serve("/cdn/MMStar.tsv", ("ok", GOOD))

    class Redirecting(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

    hub = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{hub.server_address[1]}/resolve/main/MMStar.tsv"
        assert download.ensure_dataset(entry_at(url), tmp_path, progress=False).downloaded
    finally:
        hub.shutdown()
        hub.server_close()
    assert (tmp_path / "MMStar.tsv").read_bytes() == GOOD
    assert server.hits["/cdn/MMStar.tsv"] == 1


def test_a_downloaded_file_gets_the_mode_of_an_ordinary_new_file(server, tmp_path):
    """Written by the project's one atomic writer: readable by the host's group, as every
    result file is (not the 0600 of a bare temp file)."""
    entry = entry_at(server.serve("/MMStar.tsv", ("ok", GOOD)))
    previous = os.umask(0o022)
    try:
        fetched = download.ensure_dataset(entry, tmp_path, progress=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(fetched.path.stat().st_mode) == 0o644
