"""CIFAR-10 input pipelines in the graph: the cookbook's queue runners, and tf.data.

Both read the binary batches (``cifar-10-batches-bin/*.bin``, 3073-byte records) and share one
per-record function, :func:`decode_record` then :func:`preprocess`, so on the undistorted
(evaluation) path they produce identical tensors.

Preprocessing by network (``style``):

- ``cookbook`` (cookbook ch. 8): pixels 0..255, central crop/pad to 24x24; training adds a random
  left-right flip, brightness +-63 and contrast x0.2..1.8; then per-image standardisation.
  The seed distorts its test images too; here they are not.
- ``hvass`` (Hvass #06): pixels 0..1; training takes a random 24x24 crop, flip, hue +-0.05,
  contrast x0.3..1.0, brightness +-0.2, saturation x0..2, clipped to 0..1; testing a central crop.
- ``keras-style`` (seed 002): the whole 32x32 image as x/255 - 0.5, no augmentation.

Evaluation streams cover the test set exactly once per pass: :func:`queue_eval_stream` reads the
files cyclically with one reader and takes exactly N records per pass (the last batch is
smaller), :func:`dataset_eval_stream` re-initialises a finite dataset.  Use
:func:`evaluate_stream` to run a pass.

These functions add ops to the default graph and return tensors; the caller runs them (for the
queue pipeline, under :func:`queue_runners`, which starts and cleanly stops the threads).
"""

import contextlib
from collections import namedtuple

import numpy as np

from cnn_cookbook.datasets.cifar10 import (CHANNELS, IMAGE_BYTES, IMAGE_SIZE, LABEL_BYTES, RECORD_BYTES,
                                           binary_files, check_binary_file)
from cnn_cookbook.errors import DataFormatError
from cnn_cookbook.nets.cifar10 import standardise
from cnn_cookbook.tf1 import tf

STYLES = ("cookbook", "hvass", "keras-style")
#: side of the images each style produces
OUTPUT_SIZE = {"cookbook": 24, "hvass": 24, "keras-style": 32}

InputBatch = namedtuple("InputBatch", ["images", "labels"])
EvalStream = namedtuple("EvalStream", [
    "images",       # [n, H, W, 3] float32, preprocessed for the network (undistorted)
    "labels",       # [n] int32
    "pixels",       # [n, 32, 32, 3] uint8, the decoded image before preprocessing (for plots)
    "num_examples",  # records in one pass over the files
    "batch_size",   # queue: the int32 placeholder_with_default deciding each batch's size
    "initializer",  # tf.data: the op that restarts the pass (None for queues)
])


# ---------------------------------------------------------------------------------------------
# One record


def decode_record(record):
    """A 3073-byte record string -> ``(image [32, 32, 3] uint8 HWC, label int32 scalar)``."""
    record_bytes = tf.decode_raw(record, tf.uint8)
    label = tf.cast(record_bytes[0], tf.int32)
    planes = tf.reshape(record_bytes[LABEL_BYTES:LABEL_BYTES + IMAGE_BYTES], [CHANNELS, IMAGE_SIZE, IMAGE_SIZE])
    return tf.transpose(planes, [1, 2, 0]), label   # CHW as stored -> HWC as TensorFlow wants


def _cookbook(image, training, seed):
    image = tf.cast(image, tf.float32)
    image = tf.image.resize_image_with_crop_or_pad(image, 24, 24)
    if training:
        image = tf.image.random_flip_left_right(image, seed=seed)
        image = tf.image.random_brightness(image, max_delta=63, seed=seed)
        image = tf.image.random_contrast(image, lower=0.2, upper=1.8, seed=seed)
    return standardise(image)


def _hvass(image, training, seed):
    image = tf.cast(image, tf.float32) * (1.0 / 255.0)  # a product: grappler leaves it alone in both pipelines
    if not training:
        return tf.image.resize_image_with_crop_or_pad(image, 24, 24)
    image = tf.random_crop(image, [24, 24, CHANNELS], seed=seed)
    image = tf.image.random_flip_left_right(image, seed=seed)
    image = tf.image.random_hue(image, max_delta=0.05, seed=seed)
    image = tf.image.random_contrast(image, lower=0.3, upper=1.0, seed=seed)
    image = tf.image.random_brightness(image, max_delta=0.2, seed=seed)
    image = tf.image.random_saturation(image, lower=0.0, upper=2.0, seed=seed)
    return tf.clip_by_value(image, 0.0, 1.0)  # the colour changes can leave 0..1


def _keras_style(image, training, seed):
    del training, seed  # the seed trains without augmentation
    return tf.cast(image, tf.float32) * (1.0 / 255.0) - 0.5


_PREPROCESS = {"cookbook": _cookbook, "hvass": _hvass, "keras-style": _keras_style}


def preprocess(image, training, style="cookbook", seed=None):
    """uint8 HWC [32, 32, 3] -> float32 [S, S, 3] for network ``style`` (see the module doc)."""
    try:
        return _PREPROCESS[style](image, training, seed)
    except KeyError:
        raise ValueError(f"style must be one of {STYLES}, not {style!r}") from None


def _checked_files(batches_dir, split):
    files = binary_files(batches_dir, split)
    count = sum(check_binary_file(f) for f in files)
    return [str(f) for f in files], count


# ---------------------------------------------------------------------------------------------
# Queue runners (the cookbook's pipeline)


def queue_train_batch(batches_dir, batch_size=128, style="cookbook", min_after_dequeue=5000,
                      num_threads=1, seed=None):
    """Shuffled, distorted training batches from queue runners, as the cookbook builds them.

    string_input_producer -> FixedLengthRecordReader(3073) -> decode -> preprocess ->
    shuffle_batch(capacity = min_after_dequeue + 3 * batch_size).  The shuffle buffer is capped
    at the number of training records, so a small (synthetic) set starts at once.
    Returns an :class:`InputBatch` of [batch_size, S, S, 3] float32 and [batch_size] int32.
    """
    files, count = _checked_files(batches_dir, "train")
    min_after_dequeue = max(0, min(min_after_dequeue, count - batch_size))
    with tf.name_scope("train_input"):
        filename_queue = tf.train.string_input_producer(files, seed=seed)
        tensors = []
        for _ in range(max(1, num_threads)):  # one reader per thread, like the anchor's
            reader = tf.FixedLengthRecordReader(record_bytes=RECORD_BYTES)
            _, record = reader.read(filename_queue)
            image, label = decode_record(record)
            tensors.append([preprocess(image, True, style, seed), label])
        images, labels = tf.train.shuffle_batch_join(
            tensors, batch_size=batch_size, capacity=min_after_dequeue + 3 * batch_size,
            min_after_dequeue=min_after_dequeue, seed=seed)
    return InputBatch(images, labels)


def queue_eval_stream(batches_dir, split="test", batch_size=1000, style="cookbook"):
    """Undistorted records of ``split`` in file order, from one reader cycling over the files.

    One reader thread keeps the records in order, so any ``num_examples`` consecutive records are
    each record exactly once; :func:`evaluate_stream` pulls exactly that many per pass by feeding
    the ``batch_size`` tensor, which keeps the passes aligned.
    """
    files, count = _checked_files(batches_dir, split)
    with tf.name_scope(f"{split}_input"):
        filename_queue = tf.train.string_input_producer(files, shuffle=False)
        reader = tf.FixedLengthRecordReader(record_bytes=RECORD_BYTES)
        _, record = reader.read(filename_queue)
        pixels, label = decode_record(record)
        image = preprocess(pixels, False, style)
        size = tf.placeholder_with_default(tf.constant(batch_size, tf.int32), [], name="batch_size")
        images, labels, pixel_batch = tf.train.batch([image, label, pixels], batch_size=size,
                                                     num_threads=1, capacity=2 * batch_size)
    return EvalStream(images, labels, pixel_batch, count, size, None)


@contextlib.contextmanager
def queue_runners(session):
    """Start the graph's queue runners under a Coordinator; on exit stop and join them quietly.

    Stopping closes the queues (pending enqueues are cancelled), so no thread is left blocked
    and nothing is printed.  An error raised in a reader thread is re-raised here.
    """
    coordinator = tf.train.Coordinator()
    threads = tf.train.start_queue_runners(sess=session, coord=coordinator)
    try:
        yield coordinator
    finally:
        coordinator.request_stop()
        coordinator.join(threads, stop_grace_period_secs=10)


# ---------------------------------------------------------------------------------------------
# tf.data


def _records(files):
    return tf.data.FixedLengthRecordDataset(files, RECORD_BYTES)


def dataset_train_batch(batches_dir, batch_size=128, style="cookbook", shuffle_buffer=5000,
                        num_parallel_calls=None, seed=None):
    """The same training batches from tf.data: records -> shuffle -> repeat -> parallel map
    (decode, preprocess) -> batch -> prefetch.  Returns an :class:`InputBatch`."""
    files, count = _checked_files(batches_dir, "train")
    calls = num_parallel_calls or tf.data.experimental.AUTOTUNE
    with tf.name_scope("train_input"):
        dataset = (_records(files)
                   .shuffle(min(shuffle_buffer, count), seed=seed, reshuffle_each_iteration=True)
                   .repeat()
                   .map(lambda r: _preprocessed(r, True, style, seed), num_parallel_calls=calls)
                   .batch(batch_size, drop_remainder=True)
                   .prefetch(2))
        images, labels = tf.data.make_one_shot_iterator(dataset).get_next()
    return InputBatch(images, labels)


def _preprocessed(record, training, style, seed=None):
    image, label = decode_record(record)
    return preprocess(image, training, style, seed), label


def dataset_eval_stream(batches_dir, split="test", batch_size=1000, style="cookbook"):
    """Undistorted records of ``split`` in file order from a finite tf.data pipeline; run
    ``initializer`` to start each pass (done by :func:`evaluate_stream`)."""
    files, count = _checked_files(batches_dir, split)
    with tf.name_scope(f"{split}_input"):
        def parse(record):
            pixels, label = decode_record(record)
            return preprocess(pixels, False, style), label, pixels

        dataset = (_records(files).map(parse, num_parallel_calls=tf.data.experimental.AUTOTUNE)
                   .batch(batch_size).prefetch(2))
        iterator = tf.data.make_initializable_iterator(dataset)
        images, labels, pixels = iterator.get_next()
    return EvalStream(images, labels, pixels, count, None, iterator.initializer)


# ---------------------------------------------------------------------------------------------
# Either


PIPELINES = ("queue", "dataset")


def train_batch(pipeline, batches_dir, batch_size, style, seed=None, shuffle_buffer=5000, threads=1):
    """:func:`queue_train_batch` or :func:`dataset_train_batch`, by ``pipeline`` (queue|dataset)."""
    if pipeline == "queue":
        return queue_train_batch(batches_dir, batch_size, style, shuffle_buffer, threads, seed)
    if pipeline == "dataset":
        return dataset_train_batch(batches_dir, batch_size, style, shuffle_buffer, seed=seed)
    raise ValueError(f"pipeline must be one of {PIPELINES}, not {pipeline!r}")


def eval_stream(pipeline, batches_dir, split="test", batch_size=1000, style="cookbook"):
    if pipeline == "queue":
        return queue_eval_stream(batches_dir, split, batch_size, style)
    if pipeline == "dataset":
        return dataset_eval_stream(batches_dir, split, batch_size, style)
    raise ValueError(f"pipeline must be one of {PIPELINES}, not {pipeline!r}")


def evaluate_stream(session, stream, fetches, batch_size=None):
    """Run one pass over the whole split: every record exactly once.

    ``fetches`` is a dict of tensors computed from ``stream.images`` (e.g. probabilities); the
    stream's ``labels`` and ``pixels`` are fetched too.  Returns a dict of arrays concatenated
    over the pass, each with ``stream.num_examples`` rows.  Queue streams need their runners
    started (:func:`queue_runners`).
    """
    fetches = {**fetches, "labels": stream.labels, "pixels": stream.pixels}
    parts = {name: [] for name in fetches}
    if stream.initializer is not None:
        session.run(stream.initializer)
        while True:
            try:
                values = session.run(fetches)
            except tf.errors.OutOfRangeError:
                break
            for name, value in values.items():
                parts[name].append(value)
    else:
        size = batch_size or int(session.run(stream.batch_size))
        remaining = stream.num_examples
        while remaining:
            take = min(size, remaining)
            values = session.run(fetches, {stream.batch_size: take})
            for name, value in values.items():
                parts[name].append(value)
            remaining -= take
    result = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    if len(result["labels"]) != stream.num_examples:
        raise DataFormatError(f"evaluation read {len(result['labels'])} records, expected "
                              f"{stream.num_examples}; a batch file changed while it was read")
    return result
