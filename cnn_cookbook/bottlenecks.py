"""Bottlenecks: the 2048-d ``pool_3`` values of Inception v3 ("transfer values" in Hvass #08)
for the retraining chapter, computed once per image and kept on disk.

- :func:`open_transfer_session` loads the frozen graph and picks how to batch it (see
  :mod:`cnn_cookbook.nets.inception_v3`: ``auto`` tries ``batch``, then ``map``, then ``single``,
  keeping the first whose values match the single-image path), with the distortion pieces
  (:func:`add_distortions`) when training images are distorted.
- :func:`cache_bottlenecks` computes the values of every image once and keeps them under
  ``<bottleneck_dir>/<graph fingerprint>/<class>/<image>.bnk``.  Files are written atomically
  as soon as their batch is done, so a crash loses at most one batch; each file carries its
  length and a CRC-32 (:func:`encode_bottleneck`), so a truncated or corrupt file is recomputed,
  not trusted.  Images that cannot be decoded are skipped and counted.
"""

import contextlib
import os
import struct
import threading
import time
import zlib
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnn_cookbook.datasets.folders import SPLITS
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.fileio import ensure_dir
from cnn_cookbook.io.images import UnreadableImage, read_image_rgb
from cnn_cookbook.nets import inception_v3 as iv3
from cnn_cookbook.progress import bar as progress_bar
from cnn_cookbook.tf1 import new_session, tf

# ---------------------------------------------------------------------------------------------
# Bottleneck files: magic, uint32 count, count float32 values (little-endian), uint32 CRC-32

_MAGIC = b"CCBNK1"
_HEADER = struct.Struct("<6sI")
_CRC = struct.Struct("<I")


def encode_bottleneck(values):
    data = np.asarray(values, dtype="<f4").tobytes()
    return _HEADER.pack(_MAGIC, len(data) // 4) + data + _CRC.pack(zlib.crc32(data))


def decode_bottleneck(blob, size=iv3.BOTTLENECK_SIZE):
    """The values stored in ``blob``, or None when it is truncated, corrupt or of another size."""
    if len(blob) != _HEADER.size + 4 * size + _CRC.size:
        return None
    magic, count = _HEADER.unpack_from(blob)
    data = blob[_HEADER.size:-_CRC.size]
    if magic != _MAGIC or count != size or _CRC.unpack(blob[-_CRC.size:])[0] != zlib.crc32(data):
        return None
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def bottleneck_path(cache_dir, class_name, image_path):
    return Path(cache_dir) / class_name / (Path(image_path).name + ".bnk")


def read_bottleneck(path, size=iv3.BOTTLENECK_SIZE):
    """Cached values, or None when the file is missing, truncated or corrupt."""
    try:
        blob = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    return decode_bottleneck(blob, size)


def write_bottleneck(path, values):
    """Write one cache file atomically (temp file in the same folder, then os.replace).

    Leaner than :func:`cnn_cookbook.fileio.write_bytes_atomic` (no folder check, no random
    temp name): it runs once per image and the caller creates the folders up front.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.part")
    try:
        with open(tmp, "wb") as handle:
            handle.write(encode_bottleneck(values))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _decode_chunk(chunk):
    """Decode (image path, cache file) pairs: (images, decoded pairs, unreadable paths)."""
    images, targets, unreadable = [], [], []
    for path, cache_file in chunk:
        try:
            images.append(read_image_rgb(path))
            targets.append((path, cache_file))
        except UnreadableImage:
            unreadable.append(path)
    return images, targets, unreadable


def _write_chunk(cache_files, values):
    for cache_file, row in zip(cache_files, values):
        write_bottleneck(cache_file, row)


# ---------------------------------------------------------------------------------------------
# The frozen graph and how to batch it


Distortions = namedtuple("Distortions", ["flip_left_right", "random_crop", "random_scale", "random_brightness"])
NO_DISTORTIONS = Distortions(False, 0, 0, 0)


def wants_distortions(distortions):
    return distortions is not None and (distortions.flip_left_right or distortions.random_crop > 0
                                        or distortions.random_scale > 0 or distortions.random_brightness > 0)


def check_distortions(distortions):
    """Negative percentages are a user error (they used to be ignored silently)."""
    if distortions is None:
        return
    for name in ("random_crop", "random_scale", "random_brightness"):
        value = getattr(distortions, name)
        if value < 0:
            raise CookbookError(f"the distortion {name} is a percentage >= 0, not {value}", field=name)


DistortTensors = namedtuple("DistortTensors", ["image", "distorted"])


def add_distortions(distortions, input_size=iv3.INPUT_SIZE):
    """Graph piece: one uint8 RGB image [H, W, 3] -> a randomly distorted [299, 299, 3] float 0..255.

    Percentages as retrain.py's flags: ``random_crop`` is the margin cropped away, ``random_scale``
    the largest enlargement, ``random_brightness`` the largest change of brightness.
    """
    image = tf.placeholder(tf.uint8, [None, None, 3], name="distort_input")
    margin = 1.0 + distortions.random_crop / 100.0
    scale = tf.random_uniform([], 1.0, 1.0 + distortions.random_scale / 100.0)
    side = tf.cast(float(input_size) * margin * scale, tf.int32)
    enlarged = tf.image.resize_bilinear(tf.expand_dims(tf.cast(image, tf.float32), 0), tf.stack([side, side]))
    cropped = tf.random_crop(tf.squeeze(enlarged, 0), [input_size, input_size, 3])
    if distortions.flip_left_right:
        cropped = tf.image.random_flip_left_right(cropped)
    change = distortions.random_brightness / 100.0
    brightness = tf.random_uniform([], 1.0 - change, 1.0 + change)
    return DistortTensors(image, tf.clip_by_value(cropped * brightness, 0.0, 255.0, name="distorted"))


TransferSession = namedtuple("TransferSession", ["session", "transfer", "distort", "mode", "stand_in"])


def open_transfer_session(graph_def, mode="auto", device="auto", distortions=None, seed=None):
    """A Session on the frozen graph with transfer-value pieces; the caller closes ``.session``.

    ``mode`` ``auto`` keeps the first of batch/map/single whose values match the single-image
    path on a probe (:func:`cnn_cookbook.nets.inception_v3.check_batch_mode`).
    """
    if mode not in iv3.MODES:
        raise CookbookError(f"the bottleneck mode must be one of {', '.join(iv3.MODES)}, not {mode!r}",
                            field="bottleneck_mode")
    candidates = ("batch", "map", "single") if mode == "auto" else (mode,)
    if wants_distortions(distortions):  # distorted images are fed already resized, as a batch
        if mode == "single":
            raise CookbookError("distortions need the bottleneck mode auto, batch or map, not single",
                                field="bottleneck_mode")
        candidates = tuple(c for c in candidates if c != "single")
    for candidate in candidates:
        graph = tf.Graph()
        with graph.as_default():
            if seed is not None:
                tf.set_random_seed(seed)
            transfer = iv3.build_transfer(graph_def, candidate)
            distort = add_distortions(distortions) if wants_distortions(distortions) else None
        session = new_session(graph, device)
        if mode != "auto" or iv3.check_batch_mode(session, transfer):
            return TransferSession(session, transfer, distort, candidate, iv3.is_stand_in(graph_def))
        session.close()
    raise CookbookError("this graph gives different transfer values for batched images; distortions "
                        "cannot be used with it (run without --flip-left-right/--random-*)")


# ---------------------------------------------------------------------------------------------
# The cache


@dataclass
class CacheStats:
    cached: int = 0        # read from valid cache files
    computed: int = 0      # computed now (including recomputed ones)
    recomputed: int = 0    # cache file existed but was truncated or corrupt
    unreadable: list = field(default_factory=list)  # image Paths that could not be decoded
    seconds: float = 0.0
    session_seconds: float = 0.0

    def as_dict(self):
        return {"cached": self.cached, "computed": self.computed, "recomputed_corrupt": self.recomputed,
                "unreadable_images": len(self.unreadable), "seconds": round(self.seconds, 3),
                "session_seconds": round(self.session_seconds, 3)}


BottleneckSet = namedtuple("BottleneckSet", ["values", "labels", "paths"])  # [N, 2048], [N] int32, [N]


def cache_bottlenecks(transfer_session, image_lists, class_names, cache_dir, splits=SPLITS,
                      batch_size=32, progress=True, stats=None):
    """Bottlenecks of every image in ``image_lists`` (class -> split -> Paths), from cache or computed.

    Returns ``(sets, stats)``: ``sets[split]`` is a :class:`BottleneckSet` (unreadable images
    left out), ``stats`` a :class:`CacheStats`.  New values are written to ``cache_dir`` after
    each batch.
    """
    stats = stats or CacheStats()
    began = time.perf_counter()
    found, missing = {}, []
    for label, name in enumerate(class_names):
        for split in splits:
            for path in image_lists[name][split]:
                cache_file = bottleneck_path(cache_dir, name, path)
                values = read_bottleneck(cache_file)
                if values is not None:
                    found[path] = values
                    stats.cached += 1
                else:
                    stats.recomputed += cache_file.exists()
                    missing.append((path, cache_file))
    timing = {}
    bar = progress_bar(total=len(missing), desc="bottlenecks", unit="img", enabled=progress and bool(missing))
    for cache_folder in {cache_file.parent for _, cache_file in missing}:
        ensure_dir(cache_folder)
    chunks = [missing[start:start + batch_size] for start in range(0, len(missing), batch_size)]
    # Decoding the next batch and writing the last one's files run in helper threads while
    # Session.run (which releases the GIL) computes this one, so the graph is rarely kept waiting.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="bottlenecks") as helpers:
        writes = []
        decoded = helpers.submit(_decode_chunk, chunks[0]) if chunks else None
        for index, chunk in enumerate(chunks):
            images, targets, unreadable = decoded.result()
            if index + 1 < len(chunks):
                decoded = helpers.submit(_decode_chunk, chunks[index + 1])
            stats.unreadable += unreadable
            if images:
                values = iv3.transfer_values(transfer_session.session, transfer_session.transfer, images,
                                             batch_size=batch_size, timing=timing)
                writes.append(helpers.submit(_write_chunk, [c for _, c in targets], values))
                for (path, _), row in zip(targets, values):
                    found[path] = row
                stats.computed += len(images)
            bar.update(len(chunk))
        for write in writes:
            write.result()  # re-raise a failed write (disk full, permissions) here
    bar.close()
    stats.seconds += time.perf_counter() - began
    stats.session_seconds += timing.get("session_seconds", 0.0)
    sets = {}
    for split in splits:
        rows, labels, paths = [], [], []
        for label, name in enumerate(class_names):
            for path in image_lists[name][split]:
                if path in found:
                    rows.append(found[path])
                    labels.append(label)
                    paths.append(path)
        values = np.stack(rows) if rows else np.zeros((0, iv3.BOTTLENECK_SIZE), np.float32)
        sets[split] = BottleneckSet(values, np.asarray(labels, np.int32), paths)
    return sets, stats
