"""Video files -> class folders of JPEG frames (Hvass #09, "Video Data").

The tutorial cut its images out of a few minutes of video per class with a script calling the
external ``avconv``.  Here the frames are decoded with ``imageio-ffmpeg``, which ships its own
ffmpeg binary (no system ffmpeg or avconv needed).

Input: ``videos_dir/<class>/<video>`` (.mp4 .avi .mov .mkv .webm).  Output:
``output_dir/<class>/<video name>_nohash_<frame>.jpg``, which the retraining chapter reads as it
is (``retrain --image-dir output_dir``).  The ``_nohash_`` part is retrain.py's rule for variants
of one picture: the split hashes only what comes before it, so **all frames of one video fall
in the same split** (training, validation or testing) and near-identical frames cannot inflate
the test accuracy.  The tutorial split frames at random, so neighbouring frames of one video
ended up on both sides.

Each finished video gets a hidden marker ``.<video name>.frames.json`` (its size, mtime and the
sampling settings); a re-run skips videos whose marker matches.  Frames are decoded into a
hidden temp folder and only moved into the class folder once the whole video has been
decoded, then the marker is written; an interrupted video has no marker and is redone (its
frame names are the same, so nothing is duplicated).
"""

import json
import os
import shutil
import tempfile
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

from cnn_cookbook.errors import CookbookError, first_line
from cnn_cookbook.fileio import ensure_dir, write_bytes_atomic
from cnn_cookbook.io.images import encode_jpeg
from cnn_cookbook.progress import bar as progress_bar

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
JPEG_QUALITY = 95

Sampling = namedtuple("Sampling", ["every", "fps", "max_size"])  # every Nth frame | fps rate; None = unused


@dataclass
class FramesReport:
    output_dir: Path
    extracted: dict = field(default_factory=dict)   # "class/video" -> frames written now
    kept: dict = field(default_factory=dict)        # "class/video" -> frames of an earlier run
    skipped: list = field(default_factory=list)     # ("class/video", reason)
    classes: list = field(default_factory=list)

    @property
    def frames(self):
        return sum(self.extracted.values()) + sum(self.kept.values())


def frame_filter(sampling, native_fps):
    """``keep(i)``: whether frame ``i`` is kept, for every-Nth or a target rate in frames/s
    (a video whose rate ffmpeg does not know keeps every frame at ``--fps``)."""
    if sampling.fps:
        if not native_fps or native_fps <= 0:
            return lambda i: True
        ratio = sampling.fps / native_fps
        # keep the first frame of each 1/fps interval: frame i starts a new interval
        return lambda i: i == 0 or int(i * ratio) != int((i - 1) * ratio)
    every = sampling.every or 1
    return lambda i: i % every == 0


def check_sampling(every=None, fps=None, max_size=None):
    if every is not None and fps is not None:
        raise CookbookError("keep every Nth frame or frames at a rate, not both", field=("every", "fps"))
    if every is not None and every < 1:
        raise CookbookError(f"every Nth frame needs N >= 1, not {every}", field="every")
    if fps is not None and not fps > 0:
        raise CookbookError(f"the frame rate must be > 0, not {fps}", field="fps")
    if max_size is not None and max_size < 1:
        raise CookbookError(f"the largest frame side must be >= 1 pixel, not {max_size}", field="max_size")
    return Sampling(every if fps is None else None, fps, max_size)


def _shrink(frame, max_size):
    """uint8 HxWx3, longer side at most ``max_size`` (aspect kept, never enlarged)."""
    if not max_size or max(frame.shape[:2]) <= max_size:
        return frame
    image = Image.fromarray(frame)
    image.thumbnail((max_size, max_size))
    return np.asarray(image)


def read_frames(path, sampling=Sampling(1, None, None)):
    """Yield the kept frames of one video as uint8 RGB [H, W, 3] arrays, in order.

    Raises :class:`VideoError` when ffmpeg cannot open or decode the file.
    """
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        try:
            meta = next(reader)
        except (RuntimeError, OSError, StopIteration) as exc:
            raise VideoError(first_line(exc, 200) or "ffmpeg cannot read it") from None
        width, height = meta["size"]
        keep = frame_filter(sampling, meta.get("fps"))
        index = 0
        while True:
            try:
                data = next(reader)
            except StopIteration:
                break
            except (RuntimeError, OSError) as exc:
                raise VideoError(first_line(exc, 200) or "decoding failed") from None
            if keep(index):
                frame = np.frombuffer(data, np.uint8)
                if frame.size != width * height * 3:
                    raise VideoError(f"frame {index} has {frame.size} bytes, not {width}x{height}x3")
                yield _shrink(frame.reshape(height, width, 3), sampling.max_size)
            index += 1
    finally:
        reader.close()  # stops the ffmpeg process


class VideoError(Exception):
    """A video that cannot be decoded (the reason is the message)."""


def _marker(class_dir, video):
    return class_dir / f".{video.name}.frames.json"


def _signature(video, sampling):
    stat = video.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "every": sampling.every, "fps": sampling.fps,
            "max_size": sampling.max_size}


def frame_name(video, index):
    """``<video name>_nohash_<index>.jpg``: the split hashes only the video's name."""
    return f"{video.name}_nohash_{index:06d}.jpg"


def extract_video(video, class_dir, sampling):
    """Decode one video into ``class_dir``; returns the number of frames written."""
    staging = Path(tempfile.mkdtemp(prefix=f".{video.name}.", suffix=".partial", dir=class_dir))
    try:
        count = 0
        for count, frame in enumerate(read_frames(video, sampling), start=1):
            (staging / frame_name(video, count - 1)).write_bytes(encode_jpeg(frame, JPEG_QUALITY))
        if count == 0:
            raise VideoError("no frames (empty or audio-only video)")
        for old in class_dir.glob(f"{_glob_escape(video.name)}_nohash_*.jpg"):  # frames of other settings
            old.unlink()
        for frame in staging.iterdir():
            os.replace(frame, class_dir / frame.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_bytes_atomic(_marker(class_dir, video), json.dumps({**_signature(video, sampling), "frames": count}).encode())
    return count


def _glob_escape(name):
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def list_videos(videos_dir):
    """dict class -> sorted files of ``videos_dir/<class>/`` (hidden ones left out)."""
    root = Path(videos_dir)
    if not root.is_dir():
        raise CookbookError(f"video folder {root} does not exist; give a folder with one sub-folder of "
                            "videos per class", field="videos_dir")
    return {folder.name: sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
            for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))}


def extract_frames(videos_dir, output_dir, every=None, fps=None, max_size=None, progress=True, announce=None):
    """Every video of ``videos_dir/<class>/`` -> JPEG frames in ``output_dir/<class>/``.

    ``every``: keep every Nth frame (default 1, every frame); ``fps``: keep frames at this rate
    instead; ``max_size``: shrink frames so their longer side is at most this many pixels.
    Returns a :class:`FramesReport`.  A folder where no video can be read is an error.
    """
    sampling = check_sampling(every, fps, max_size)
    videos = list_videos(videos_dir)
    output_dir = Path(output_dir)
    report = FramesReport(output_dir)
    todo = [(name, video) for name, files in videos.items() for video in files]
    bar = progress_bar(total=len(todo), desc="videos", unit="video", enabled=progress and bool(todo))
    for name, video in todo:
        key = f"{name}/{video.name}"
        bar.update(1)
        if video.suffix.lower() not in VIDEO_EXTENSIONS:
            report.skipped.append((key, f"not a video file type ({', '.join(VIDEO_EXTENSIONS)})"))
            continue
        if video.stat().st_size == 0:
            report.skipped.append((key, "empty file"))
            continue
        class_dir = ensure_dir(output_dir / name)
        marker = _marker(class_dir, video)
        try:
            done = json.loads(marker.read_text()) if marker.is_file() else None
        except ValueError:
            done = None
        if done and all(done.get(k) == v for k, v in _signature(video, sampling).items()):
            report.kept[key] = int(done.get("frames", 0))
            continue
        try:
            report.extracted[key] = extract_video(video, class_dir, sampling)
        except VideoError as exc:
            report.skipped.append((key, str(exc)))
            if announce:
                announce(f"skipped {key}: {exc}")
    bar.close()
    report.classes = sorted({key.split("/")[0] for key in (*report.extracted, *report.kept)})
    if not report.extracted and not report.kept:
        reasons = "; ".join(f"{k}: {r}" for k, r in report.skipped[:3]) or "no files"
        raise CookbookError(f"no readable video in {videos_dir} (one sub-folder of {'/'.join(VIDEO_EXTENSIONS)} "
                            f"files per class expected; {reasons})")
    return report
