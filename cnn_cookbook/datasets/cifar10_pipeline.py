"""CIFAR-10 input pipelines in the graph: the cookbook's queue runners, and tf.data.

Both read the binary batches (``cifar-10-batches-bin/*.bin``, 3073-byte records) and share one
per-record function, :func:`decode_record` then :func:`preprocess`, so on the undistorted
(evaluation) path they produce identical tensors.

Preprocessing by network (``style``):

- ``cookbook`` (cookbook ch. 8): pixels 0..255, central crop/pad to 24x24; training adds a random
  left-right flip, brightness +-63 and contrast x0.2..1.8; then per-image standardisation.
  The cookbook distorts its test images too; here they are not.
- ``hvass`` (Hvass #06): pixels 0..1; training takes a random 24x24 crop, flip, hue +-0.05,
  contrast x0.3..1.0, brightness +-0.2, saturation x0..2, clipped to 0..1; testing a central crop.
- ``keras-style`` (the Keras-style tutorial): the whole 32x32 image as x/255 - 0.5, no augmentation.

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
                                           checked_binary_files)
from cnn_cookbook.errors import DataFormatError
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


# Random distortions draw their numbers through ``draw(k, low, high)``: a scalar uniform in
# [low, high) for the record's k-th random choice.  Where records are distorted one after another
# (the queue path's single preprocessing thread) stateful ops repeat with the seed; where several
# records are distorted at once (tf.data's parallel map) the numbers must not depend on which
# call runs first, so they come from stateless ops keyed by (seed, record position).


def stateful_draws(seed=None):
    def draw(k, low, high):
        return tf.random_uniform([], low, high, seed=None if seed is None else seed + k)
    return draw


def stateless_draws(seed, position):
    """Draws that depend only on ``seed`` and the record's ``position`` (int64 scalar tensor) in
    the stream: the same numbers however many parallel calls run, in whatever order."""
    def draw(k, low, high):
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(position, tf.int64) * 8 + k])
        return tf.random.stateless_uniform([], key, minval=low, maxval=high)
    return draw


def _flip(image, draw, k):
    return tf.cond(draw(k, 0.0, 1.0) < 0.5, lambda: tf.image.flip_left_right(image), lambda: image)


def _crop(image, size, draw, k):
    """A random ``size`` x ``size`` window of an HWC image (offsets drawn per axis)."""
    spare = [IMAGE_SIZE - size + 1] * 2
    offsets = [tf.minimum(tf.cast(draw(k + i, 0.0, float(n)), tf.int32), n - 1) for i, n in enumerate(spare)]
    return tf.slice(image, [offsets[0], offsets[1], 0], [size, size, CHANNELS])


# ---------------------------------------------------------------------------------------------
# Normalisation: the last, undistorted step of each style, in one place.  The networks'
# ``*_from_pixels`` builders (:mod:`cnn_cookbook.nets.cifar10`) apply it to plain 0..1 images.


def standardise(images):
    """Per-image standardisation of 0..255 images [H, W, C] or [N, H, W, C]: each image gets
    mean 0 and std 1 (std floored at 1/sqrt(pixels), as TF's per_image_standardization does)."""
    return tf.image.per_image_standardization(images)


def normalise_unit_pixels(images, style):
    """RGB 0..1 float32 images -> the values ``style``'s network takes, as the undistorted
    pipeline gives them: ``cookbook`` standardised per image (of the 0..255 values), ``hvass``
    unchanged (0..1), ``keras-style`` centred (-0.5..0.5)."""
    if style == "cookbook":
        return standardise(images * 255.0)
    if style == "hvass":
        return images
    if style == "keras-style":
        return images - 0.5
    raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")


def _unit(image):
    return tf.cast(image, tf.float32) * (1.0 / 255.0)  # a product: grappler leaves it alone in both pipelines


def _cookbook(image, training, draw):
    image = tf.cast(image, tf.float32)
    image = tf.image.resize_image_with_crop_or_pad(image, 24, 24)
    if training:
        image = _flip(image, draw, 0)
        image = tf.image.adjust_brightness(image, draw(1, -63.0, 63.0))
        image = tf.image.adjust_contrast(image, draw(2, 0.2, 1.8))
    return standardise(image)


def _hvass(image, training, draw):
    image = _unit(image)
    if not training:
        return normalise_unit_pixels(tf.image.resize_image_with_crop_or_pad(image, 24, 24), "hvass")
    image = _crop(image, 24, draw, 0)
    image = _flip(image, draw, 2)
    image = tf.image.adjust_hue(image, draw(3, -0.05, 0.05))
    image = tf.image.adjust_contrast(image, draw(4, 0.3, 1.0))
    image = tf.image.adjust_brightness(image, draw(5, -0.2, 0.2))
    image = tf.image.adjust_saturation(image, draw(6, 0.0, 2.0))
    return tf.clip_by_value(image, 0.0, 1.0)  # the colour changes can leave 0..1


def _keras_style(image, training, draw):
    del training, draw  # the tutorial trains without augmentation
    return normalise_unit_pixels(_unit(image), "keras-style")


_PREPROCESS = {"cookbook": _cookbook, "hvass": _hvass, "keras-style": _keras_style}


def preprocess(image, training, style="cookbook", seed=None, draw=None):
    """uint8 HWC [32, 32, 3] -> float32 [S, S, 3] for network ``style`` (see the module doc).

    ``draw`` supplies the distortions' random numbers (default: :func:`stateful_draws` of ``seed``).
    """
    if style not in _PREPROCESS:
        raise ValueError(f"style must be one of {STYLES}, not {style!r}")
    return _PREPROCESS[style](image, training, draw or stateful_draws(seed))


# ---------------------------------------------------------------------------------------------
# Queue runners (the cookbook's pipeline)


def queue_train_batch(batches_dir, batch_size=128, style="cookbook", min_after_dequeue=5000,
                      num_threads=1, seed=None, shard=None):
    """Shuffled, distorted training batches from queue runners, as the cookbook builds them.

    string_input_producer -> FixedLengthRecordReader(3073) -> decode -> preprocess ->
    shuffle_batch(capacity = min_after_dequeue + 3 * batch_size).  The shuffle buffer is capped
    at the number of training records, so a small (synthetic) set starts at once.
    ``shard`` ``(index, count)`` keeps only the records whose number in their file is index
    modulo count (a cluster worker's share; one reader thread).
    Returns an :class:`InputBatch` of [batch_size, S, S, 3] float32 and [batch_size] int32.

    With a ``seed`` the batches repeat exactly (:func:`_seeded_shuffle_batch`, one reader thread).
    """
    files, count = checked_binary_files(batches_dir, "train")
    if shard is not None:
        if num_threads > 1:
            raise DataFormatError("a sharded queue pipeline reads with one thread; use one reader thread "
                                  "or the tf.data pipeline in a cluster", field=("reader_threads", "pipeline"))
        count = count // shard[1]
    min_after_dequeue = max(0, min(min_after_dequeue, count - batch_size))
    if seed is not None:
        return _seeded_shuffle_batch(files, batch_size, style, min_after_dequeue, seed, shard)
    with tf.name_scope("train_input"):
        filename_queue = tf.train.string_input_producer(files, seed=seed)
        tensors = []
        for _ in range(max(1, num_threads)):  # one reader per thread, as the cookbook reads
            reader = tf.FixedLengthRecordReader(record_bytes=RECORD_BYTES)
            key, record = reader.read(filename_queue)
            image, label = decode_record(record)
            tensors.append([preprocess(image, True, style, seed), label])
        capacity = min_after_dequeue + 3 * batch_size
        if shard is None:
            images, labels = tf.train.shuffle_batch_join(
                tensors, batch_size=batch_size, capacity=capacity, min_after_dequeue=min_after_dequeue, seed=seed)
        else:
            images, labels = tf.train.maybe_shuffle_batch_join(
                tensors, batch_size=batch_size, capacity=capacity, min_after_dequeue=min_after_dequeue,
                keep_input=_in_shard(key, shard), seed=seed)
    return InputBatch(images, labels)


#: ops :func:`queue_runners` runs once after starting the threads (filling a seeded shuffle queue)
PRIME_OPS = "cnn_cookbook_prime_ops"


def _seeded_shuffle_batch(files, batch_size, style, min_after_dequeue, seed, shard=None):
    """``shuffle_batch`` whose batches depend only on the seed, not on thread timing.

    A RandomShuffleQueue filled by a runner thread holds, at each dequeue, whatever that thread
    had managed to add, so two runs draw from different pools.  Here one reader thread feeds a
    FIFO batch queue (a fixed record order and distortion order), and the shuffle queue is filled
    only inside the training step: each step enqueues one batch, then draws one batch from the
    ``min_after_dequeue + batch_size`` records it then holds, with the queue's seeded generator.
    The queue is first primed with ``min_after_dequeue`` records (:data:`PRIME_OPS`).
    """
    rounds = -(-min_after_dequeue // batch_size)  # priming enqueues, whole batches
    with tf.name_scope("train_input"):
        filename_queue = tf.train.string_input_producer(files, seed=seed)
        key, record = tf.FixedLengthRecordReader(record_bytes=RECORD_BYTES).read(filename_queue)
        image, label = decode_record(record)
        image = preprocess(image, True, style, seed)
        if shard is None:
            fifo = tf.train.batch([image, label], batch_size=batch_size, num_threads=1, capacity=3 * batch_size)
        else:
            fifo = tf.train.maybe_batch([image, label], _in_shard(key, shard), batch_size=batch_size, num_threads=1,
                                        capacity=3 * batch_size)
        shuffle = tf.RandomShuffleQueue((rounds + 1) * batch_size, rounds * batch_size,
                                        [tf.float32, tf.int32], [image.shape, label.shape], seed=seed)
        refill = shuffle.enqueue_many(fifo)
        for _ in range(rounds):
            tf.add_to_collection(PRIME_OPS, refill)
        with tf.control_dependencies([refill]):
            images, labels = shuffle.dequeue_many(batch_size)
    return InputBatch(images, labels)


def _in_shard(key, shard):
    """A reader's key is ``<file>:<record number>``; keep the record numbers of this shard."""
    number = tf.strings.to_number(tf.strings.regex_replace(key, ".*:", ""), out_type=tf.int64)
    return tf.equal(number % shard[1], shard[0])


def queue_eval_stream(batches_dir, split="test", batch_size=1000, style="cookbook"):
    """Undistorted records of ``split`` in file order, from one reader cycling over the files.

    One reader thread keeps the records in order, so any ``num_examples`` consecutive records are
    each record exactly once; :func:`evaluate_stream` pulls exactly that many per pass by feeding
    the ``batch_size`` tensor, which keeps the passes aligned.
    """
    files, count = checked_binary_files(batches_dir, split)
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
        for op in session.graph.get_collection(PRIME_OPS):
            session.run(op)
        yield coordinator
    finally:
        coordinator.request_stop()
        coordinator.join(threads, stop_grace_period_secs=10)


# ---------------------------------------------------------------------------------------------
# tf.data


def _records(files):
    return tf.data.FixedLengthRecordDataset(files, RECORD_BYTES)


def dataset_train_batch(batches_dir, batch_size=128, style="cookbook", shuffle_buffer=5000,
                        num_parallel_calls=None, seed=None, shard=None):
    """The same training batches from tf.data: records -> shuffle -> repeat -> parallel map
    (decode, preprocess) -> batch -> prefetch.  ``shard`` ``(index, count)`` keeps every
    count-th record from index (a cluster worker's share).  Returns an :class:`InputBatch`."""
    files, count = checked_binary_files(batches_dir, "train")
    calls = num_parallel_calls or tf.data.experimental.AUTOTUNE

    def distort(position, record):
        # seeded: numbers keyed by the record's position in the stream, so the parallel map
        # (whose calls finish in any order) repeats exactly; the map keeps the element order
        draw = stateful_draws() if seed is None else stateless_draws(seed, position)
        image, label = decode_record(record)
        return preprocess(image, True, style, draw=draw), label

    with tf.name_scope("train_input"):
        records = _records(files)
        if shard is not None:
            records, count = records.shard(shard[1], shard[0]), count // shard[1]
        dataset = (records
                   .shuffle(min(shuffle_buffer, count), seed=seed, reshuffle_each_iteration=True)
                   .repeat())
        dataset = (tf.data.Dataset.zip((tf.data.experimental.Counter(), dataset))
                   .map(distort, num_parallel_calls=calls)
                   .batch(batch_size, drop_remainder=True)
                   .prefetch(2))
        images, labels = tf.data.make_one_shot_iterator(dataset).get_next()
    return InputBatch(images, labels)


def dataset_eval_stream(batches_dir, split="test", batch_size=1000, style="cookbook"):
    """Undistorted records of ``split`` in file order from a finite tf.data pipeline; run
    ``initializer`` to start each pass (done by :func:`evaluate_stream`)."""
    files, count = checked_binary_files(batches_dir, split)
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


def train_batch(pipeline, batches_dir, batch_size, style, seed=None, shuffle_buffer=5000, threads=1, shard=None):
    """:func:`queue_train_batch` or :func:`dataset_train_batch`, by ``pipeline`` (queue|dataset)."""
    if pipeline == "queue":
        return queue_train_batch(batches_dir, batch_size, style, shuffle_buffer, threads, seed, shard)
    if pipeline == "dataset":
        return dataset_train_batch(batches_dir, batch_size, style, shuffle_buffer, seed=seed, shard=shard)
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
