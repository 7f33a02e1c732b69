"""Inception-style TFRecords: what research/inception's ``data/build_image_data.py`` writes.

Writing (no graph needed): :func:`find_image_files` reads the labels file and the class folders
(labels start at 1; 0 is background), :func:`write_tfrecords` splits the images over
``num_threads`` threads, each writing ``num_shards / num_threads`` shards named
``<name>-00000-of-00128``.  Every record is a ``tf.train.Example`` with image/height,
image/width, image/colorspace (b'RGB'), image/channels (3), image/class/label,
image/class/text, image/format (b'JPEG'), image/filename and image/encoded (JPEG bytes: RGB
JPEGs are kept as they are, anything else is decoded and re-encoded as JPEG, as the original
does for PNG and CMYK files).  Each shard is written to a temp file and renamed when complete,
so an interrupted run never leaves a truncated shard under its final name.  Images that cannot
be decoded are skipped and counted.

Reading (graph pieces): :func:`parse_example` decodes one serialized Example into tensors,
:func:`tfrecord_dataset` is the tf.data reader and :func:`queue_reader` the TF1 queue-runner
reader (start it with ``tf.train.start_queue_runners`` under a ``tf.train.Coordinator``).
"""

import os
import threading
from collections import namedtuple
from pathlib import Path

import numpy as np
from PIL import Image

from cnn_cookbook.datasets.folders import IMAGE_EXTENSIONS, read_labels_file
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.fileio import atomic_path, ensure_dir
from cnn_cookbook.io.images import UnreadableImage, encode_jpeg, read_image_rgb
from cnn_cookbook.progress import bar as progress_bar
from cnn_cookbook.tf1 import tf

ImageFiles = namedtuple("ImageFiles", ["filenames", "texts", "labels"])
ShardReport = namedtuple("ShardReport", [
    "files",         # shard Paths in order
    "records",       # records written per shard
    "skipped",       # image Paths that could not be decoded
    "threads_used",  # distinct writer threads that wrote shards
])

#: build_image_data.py shuffles the file list with this seed so shards mix the classes
SHUFFLE_SEED = 12345


def find_image_files(data_dir, labels_file, shuffle_seed=SHUFFLE_SEED):
    """Images of ``data_dir/<label>/*`` for each label in ``labels_file``; returns :class:`ImageFiles`.

    Labels are 1-based positions in the labels file.  A label without a folder, or a class folder
    that the labels file does not name, means the file does not match the folders: an error.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise CookbookError(f"image folder {data_dir} does not exist; run the 'prepare' step first "
                            "or give the folders of class images", field=("image_dir", "validation_dir"))
    names = read_labels_file(labels_file)
    folders = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    missing = [n for n in names if not (data_dir / n).is_dir()]
    extra = [n for n in folders if n not in names]
    if missing or extra:
        detail = (f"no folder for {', '.join(missing[:5])}" if missing else "") + \
                 ("; " if missing and extra else "") + \
                 (f"folders not in the labels file: {', '.join(extra[:5])}" if extra else "")
        raise CookbookError(f"labels file {labels_file} does not match the class folders of {data_dir} "
                            f"({detail}); fix the labels file (one folder name per line)")
    filenames, texts, labels = [], [], []
    for index, name in enumerate(names, start=1):
        files = sorted(str(p) for p in (data_dir / name).iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        filenames += files
        texts += [name] * len(files)
        labels += [index] * len(files)
    if not filenames:
        raise CookbookError(f"{data_dir} holds no images in the folders the labels file names")
    order = np.random.RandomState(shuffle_seed).permutation(len(filenames))
    return ImageFiles([filenames[i] for i in order], [texts[i] for i in order], [labels[i] for i in order])


def _bytes_feature(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64_feature(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def encode_for_record(path):
    """(JPEG bytes, height, width) for one image file; RGB JPEGs are passed through unchanged."""
    data = Path(path).read_bytes()
    image = read_image_rgb(path)  # raises UnreadableImage; also gives the size
    if data[:3] == b"\xff\xd8\xff":
        with Image.open(path) as opened:
            if opened.mode == "RGB":
                return data, image.shape[0], image.shape[1]
    return encode_jpeg(image, quality=95), image.shape[0], image.shape[1]


def make_example(encoded, height, width, label, text, filename):
    """A ``tf.train.Example`` with the features of build_image_data.py."""
    return tf.train.Example(features=tf.train.Features(feature={
        "image/height": _int64_feature(height),
        "image/width": _int64_feature(width),
        "image/colorspace": _bytes_feature(b"RGB"),
        "image/channels": _int64_feature(3),
        "image/class/label": _int64_feature(label),
        "image/class/text": _bytes_feature(text.encode("utf-8")),
        "image/format": _bytes_feature(b"JPEG"),
        "image/filename": _bytes_feature(os.path.basename(filename).encode("utf-8")),
        "image/encoded": _bytes_feature(encoded),
    }))


def shard_names(name, num_shards):
    return [f"{name}-{shard:05d}-of-{num_shards:05d}" for shard in range(num_shards)]


def write_tfrecords(name, files, output_dir, num_shards, num_threads, progress=True):
    """Write ``files`` (:class:`ImageFiles`) as ``num_shards`` TFRecord files with ``num_threads`` threads.

    As build_image_data.py: the image list is cut into ``num_threads`` contiguous ranges, and
    thread ``t`` writes shards ``t * k ... t * k + k - 1`` (k = num_shards / num_threads) from
    its range.  Returns a :class:`ShardReport`.
    """

    if num_shards < 1 or num_threads < 1 or num_shards % num_threads:
        raise CookbookError(f"the number of shards ({num_shards}) must be a positive multiple of the "
                            f"number of threads ({num_threads}); change either",
                            field=("train_shards", "validation_shards", "num_threads"))
    output_dir = ensure_dir(output_dir, field="output_dir")
    ranges = np.linspace(0, len(files.filenames), num_threads + 1).astype(int)
    per_thread = num_shards // num_threads
    names = shard_names(name, num_shards)
    records = [0] * num_shards
    skipped, writers, errors = [], set(), []
    lock = threading.Lock()
    bar = progress_bar(total=len(files.filenames), desc=f"{name} shards", unit="img", enabled=progress)

    def work(thread_index):
        try:
            bounds = np.linspace(ranges[thread_index], ranges[thread_index + 1], per_thread + 1).astype(int)
            for local in range(per_thread):
                shard = thread_index * per_thread + local
                with atomic_path(output_dir / names[shard]) as tmp:
                    with tf.io.TFRecordWriter(str(tmp)) as writer:
                        for i in range(bounds[local], bounds[local + 1]):
                            path = files.filenames[i]
                            try:
                                encoded, height, width = encode_for_record(path)
                            except UnreadableImage:
                                with lock:
                                    skipped.append(Path(path))
                                    bar.update(1)
                                continue
                            example = make_example(encoded, height, width, files.labels[i], files.texts[i], path)
                            writer.write(example.SerializeToString())
                            records[shard] += 1
                            with lock:
                                bar.update(1)
                with lock:  # by index: the OS reuses the ids of threads that have ended
                    writers.add(thread_index)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,), name=f"{name}-writer-{t}") for t in range(num_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bar.close()
    if errors:
        raise errors[0]
    return ShardReport([output_dir / n for n in names], records, skipped, len(writers))


# ---------------------------------------------------------------------------------------------
# Reading


def feature_spec():
    return {
        "image/height": tf.FixedLenFeature([], tf.int64),
        "image/width": tf.FixedLenFeature([], tf.int64),
        "image/colorspace": tf.FixedLenFeature([], tf.string),
        "image/channels": tf.FixedLenFeature([], tf.int64),
        "image/class/label": tf.FixedLenFeature([], tf.int64),
        "image/class/text": tf.FixedLenFeature([], tf.string),
        "image/format": tf.FixedLenFeature([], tf.string),
        "image/filename": tf.FixedLenFeature([], tf.string),
        "image/encoded": tf.FixedLenFeature([], tf.string),
    }


def parse_example(serialized):
    """One serialized Example -> dict of the feature tensors plus ``image``: uint8 [H, W, 3]."""
    features = tf.parse_single_example(serialized, feature_spec())
    features["image"] = tf.image.decode_jpeg(features["image/encoded"], channels=3)
    return features


def _shard_files(file_pattern):
    files = sorted(tf.io.gfile.glob(str(file_pattern)))
    if not files:
        raise CookbookError(f"no TFRecord files match {file_pattern}; run the 'tfrecords' step first")
    return files


def tfrecord_dataset(file_pattern, shuffle=False, seed=None):
    """tf.data reader: a Dataset of :func:`parse_example` dicts from the shards matching the pattern."""
    files = _shard_files(file_pattern)
    dataset = tf.data.TFRecordDataset(files)
    if shuffle:
        dataset = dataset.shuffle(1000, seed=seed)
    return dataset.map(parse_example)


def queue_reader(file_pattern, num_epochs=None, shuffle=False, seed=None):
    """Queue-runner reader (TF1 style): dict of tensors for one record per ``Session.run``.

    Uses ``string_input_producer`` + ``TFRecordReader``; the caller runs
    ``tf.local_variables_initializer()`` (for ``num_epochs``) and starts the queue runners.
    """
    files = _shard_files(file_pattern)
    queue = tf.train.string_input_producer(files, num_epochs=num_epochs, shuffle=shuffle, seed=seed)
    _, serialized = tf.TFRecordReader().read(queue)
    return parse_example(serialized)
