"""Hvass #09 video data: real (tiny) videos -> class folders of frames -> retrain."""

import json

import numpy as np
import pytest

from cnn_cookbook.datasets import folders
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.io.images import read_image_rgb
from conftest import load_recipe


def write_video(path, frames, fps=10):
    """A real video file written by the ffmpeg that imageio-ffmpeg ships (frames: uint8 HxWx3)."""
    import imageio_ffmpeg

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=fps, quality=9, macro_block_size=16)
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path


def _clip(colour, count, rng, size=(32, 48)):
    """``count`` frames of one dominant colour with a moving bright square and noise."""
    frames = []
    for i in range(count):
        frame = rng.integers(0, 60, (*size, 3)).astype(np.int16)
        frame[..., colour] += 150
        frame[4:12, 2 + 3 * i:10 + 3 * i] = 255
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two classes of three short clips each (mp4, avi, mkv), plus files that must be skipped."""
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    for colour, name in enumerate(("reddish", "greenish")):
        for k, ext in enumerate((".mp4", ".avi", ".mkv")):
            write_video(root / name / f"clip{k}{ext}", _clip(colour, 8, rng))
    (root / "reddish" / "empty.mp4").write_bytes(b"")
    (root / "reddish" / "broken.mov").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(rng.integers(0, 256, 3000,
                                                                                              dtype=np.uint8)))
    (root / "greenish" / "notes.txt").write_text("not a video")
    return root


def test_frames_are_sampled_kept_together_and_not_redone(videos, tmp_path):
    from cnn_cookbook.datasets.video import extract_frames

    out = tmp_path / "frames"
    report = extract_frames(videos, out, every=3, max_size=24, progress=False)
    assert report.classes == ["greenish", "reddish"]
    assert sorted(report.extracted) == sorted(f"{c}/clip{k}{e}" for c in ("reddish", "greenish")
                                              for k, e in enumerate((".mp4", ".avi", ".mkv")))
    assert set(report.extracted.values()) == {3}  # frames 0, 3, 6 of 8
    reasons = dict(report.skipped)
    assert set(reasons) == {"reddish/empty.mp4", "reddish/broken.mov", "greenish/notes.txt"}
    assert reasons["reddish/empty.mp4"] == "empty file" and "not a video" in reasons["greenish/notes.txt"]
    assert reasons["reddish/broken.mov"]  # ffmpeg's own reason, whatever its wording

    listed = folders.list_class_folders(out)
    assert listed.class_names == ["greenish", "reddish"] and sum(map(len, listed.images.values())) == 18
    frame = read_image_rgb(listed.images["reddish"][0])
    assert frame.shape == (16, 24, 3)  # 32x48 shrunk to a longer side of 24, aspect kept
    assert frame[..., 0].mean() > frame[..., 1].mean() + 60  # the colour survived encode/decode
    # every frame of a video lands in the split of its video
    for name, paths in listed.images.items():
        by_video = {}
        for path in paths:
            by_video.setdefault(path.name.split("_nohash_")[0], set()).add(folders.split_for(path, 30, 30))
        assert len(by_video) == 3 and all(len(splits) == 1 for splits in by_video.values())

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    again = extract_frames(videos, out, every=3, max_size=24, progress=False)
    assert again.extracted == {} and again.kept == report.extracted
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == before

    # other settings redo the videos and leave no frame of the old ones behind
    rate = extract_frames(videos, out, fps=5, progress=False)  # the clips run at 10 frames/s
    assert set(rate.extracted.values()) == {4}
    assert len(list(out.rglob("*.jpg"))) == 24 and not list(out.rglob("*.partial"))


def test_no_readable_video_is_one_error(videos, tmp_path):
    from cnn_cookbook.datasets.video import extract_frames

    bad = tmp_path / "bad"
    (bad / "a").mkdir(parents=True)
    (bad / "a" / "x.mp4").write_bytes(b"")
    (bad / "b").mkdir()
    (bad / "b" / "y.webm").write_bytes(b"junk" * 100)
    with pytest.raises(CookbookError, match="no readable video") as info:
        extract_frames(bad, tmp_path / "out", progress=False)
    assert "a/x.mp4: empty file" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CookbookError, match="does not exist"):
        extract_frames(tmp_path / "nowhere", tmp_path / "out", progress=False)
    with pytest.raises(CookbookError, match="not both"):
        extract_frames(videos, tmp_path / "out", every=2, fps=3, progress=False)


def test_recipe_extracts_frames_and_retrains_on_them(videos, tmp_path, capsys):
    recipe = load_recipe("retrain_inception")
    frames = tmp_path / "frames"
    recipe.main(["frames", "--videos-dir", str(videos), "--output-dir", str(frames), "--every", "2",
                 "--no-progress"])
    printed = capsys.readouterr().out
    assert "24 frames from 6 videos" in printed and "skipped reddish/broken.mov" in printed
    recipe.main(["retrain", "--image-dir", str(frames), "--output-dir", str(tmp_path / "run"), "--models-dir",
                 str(tmp_path / "models"), "--steps", "5", "--testing-percentage", "30",
                 "--validation-percentage", "30", "--no-progress", "--device", "cpu"])
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["classes"] == ["greenish", "reddish"] and sum(metrics["images"].values()) == 24
    assert metrics["model"] == "stand-in" and metrics["steps"] == 5
    # Hvass #08's figures of the transfer values
    assert all((tmp_path / "run" / f"transfer_values_{m}.png").stat().st_size > 0 for m in ("pca", "tsne"))
