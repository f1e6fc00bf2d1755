"""Local video TSVs (``-d path.tsv:video`` with ``--nframe``/``--fps``): resolved, checked,
loaded, shown by ``vlmeval prompts`` frame by frame, and in the run's identity."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from videos import make_video
from vlmeval_core.datasets.registry import DatasetRef, check_frames, resolve_dataset
from vlmeval_core.datasets.tsv import ItemImageError, load_tsv
from vlmeval_core.errors import UsageError
from vlmeval_core.identity import differences, run_identity
from vlmeval_core.video.sampling import FrameSpec
from vlmeval_launcher.cli import main

HEADER = "index\tvideo\tquestion\tA\tB\tanswer\n"


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    make_video(tmp_path / "left.mp4", 60, 30)
    make_video(tmp_path / "right.mp4", 100, 25)
    rows = ["0\tleft\tWhich way?\tleft\tright\tA", "1\tright\tWhich way?\tleft\tright\tB"]
    rows.append("2\tgone\tWhich way?\tleft\tright\tA")
    (tmp_path / "clips.tsv").write_text(HEADER + "\n".join(rows) + "\n")
    return tmp_path / "clips.tsv"


def test_a_video_tsv_resolves_with_its_setting(clips: Path) -> None:
    ref = resolve_dataset(f"{clips}:video", nframe=8)
    assert (ref.video, ref.kind, ref.frames) == (True, None, FrameSpec(nframe=8))
    assert ref.to_dict() == {
        "name": "clips", "path": str(clips), "kind": None, "video": True, "nframe": 8, "fps": None
    }  # fmt: skip
    assert resolve_dataset(str(clips)).to_dict() == {
        "name": "clips",
        "path": str(clips),
        "kind": None,
    }
    with pytest.raises(UsageError, match="not both"):
        resolve_dataset(f"{clips}:video", nframe=8, fps=1.0)


def test_eval_needs_a_setting_for_a_video_and_none_without_one(clips: Path) -> None:
    video = resolve_dataset(f"{clips}:video")
    with pytest.raises(UsageError, match=r"needs --nframe N .* or --fps F"):
        check_frames((video,), None, None)
    with pytest.raises(UsageError, match="--data names none"):
        check_frames((resolve_dataset("ShapesMCQ"),), 8, None)
    with pytest.raises(UsageError, match="above 0"):
        check_frames((video,), 0, None)
    check_frames((resolve_dataset(f"{clips}:video", fps=2.0),), None, 2.0)


def test_loaded_frames_are_the_items_images_and_a_bad_video_fails_its_item(clips: Path) -> None:
    data = load_tsv(clips, "clips", video=True, frames=FrameSpec(nframe=4))
    assert data.kind == "mcq"  # inferred from the options, as for images
    images = data.images(0)
    assert [im.size for im in images] == [(64, 48)] * 4
    assert data.image_origins(1)[0] == "right.mp4: frame 20 of 100 at 0.80 s (1 of 4)"
    assert data.video_frames(1).indices == (20, 40, 60, 80)
    with pytest.raises(ItemImageError, match=r"clips.tsv: index 2: video .*gone.mp4' does not"):
        data.images(2)
    unset = load_tsv(clips, "clips", video=True)
    with pytest.raises(ItemImageError, match="give --nframe or --fps"):
        unset.images(0)


def test_a_video_tsv_needs_its_video_column(tmp_path: Path) -> None:
    (tmp_path / "v.tsv").write_text("index\tquestion\tanswer\n0\tq\ta\n")
    with pytest.raises(UsageError, match="missing column 'video'"):
        load_tsv(tmp_path / "v.tsv", video=True, frames=FrameSpec(nframe=2))


def test_a_video_outside_the_tsvs_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    make_video(tmp_path / "outside.mp4", 10, 10)
    (tmp_path / "sub" / "v.tsv").write_text(HEADER + "0\t../outside\tq\ta\tb\tA\n")
    data = load_tsv(tmp_path / "sub" / "v.tsv", video=True, frames=FrameSpec(nframe=2))
    with pytest.raises(ItemImageError, match="points outside the data directory"):
        data.images(0)


def _identity(*refs: DatasetRef) -> dict:
    model = SimpleNamespace(max_new_tokens=8)
    plan = SimpleNamespace(
        model=model, endpoint=None, datasets=refs, device="cpu", seed=0, shards=1, judge=None
    )
    return run_identity(plan).to_dict()["datasets"]  # type: ignore[arg-type]


def test_the_identity_holds_the_setting_and_an_image_datasets_is_unchanged(
    clips: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("vlmeval_core.identity.model_identity", lambda plan: {})
    eight, one_fps = (resolve_dataset(f"{clips}:video", **s) for s in ({"nframe": 8}, {"fps": 1}))
    assert _identity(eight)["clips"]["video"] == {"nframe": 8, "fps": None, "feed": "frames"}
    assert differences(_identity(eight), _identity(one_fps))
    image = _identity(resolve_dataset(str(clips)))["clips"]
    assert set(image) == {"kind", "source", "prompt", "md5"}


def test_prompts_shows_each_frame_by_index_and_time(clips: Path) -> None:
    args = ["prompts", "-m", "tiny-vlm", "-d", f"{clips}:video", "--fps", "1", "--json"]
    result = CliRunner().invoke(main, [*args, "--data-dir", str(clips.parent)])
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in result.stdout.splitlines()]
    shown = [m["value"] for m in items[0]["messages"] if m["type"] == "image"]
    assert shown == [f"left.mp4: frame {i} of 60 at {i / 30:.2f} s ({k} of 2)" for k, i in
                     ((1, 0), (2, 30))]  # fmt: skip
    assert "gone.mp4' does not exist" in items[2]["error"]
    bare = CliRunner().invoke(main, ["prompts", "-m", "tiny-vlm", "-d", f"{clips}:video"])
    assert bare.exit_code == 2
    assert "needs --nframe N" in bare.output
