"""TensorBoard the TF1 way: one event folder per run under a run's ``tensorboard/``.

``tensorboard --logdir runs/mnist_cnn/tensorboard`` then overlays the runs on one chart per tag:

- ``train/``: the graph; ``loss``, ``loss_average`` (an exponential moving average of every
  step's loss, as tensorflow/models' cifar10 showed beside the raw loss), ``accuracy`` of the
  training batch and any other scalar the chapter adds (``learning_rate``) every
  ``summary_every`` steps; the input batch as images; with ``--histograms-every N``, histograms
  of every weight and of the chapter's activations, and each activation's ``sparsity`` (fraction
  of zeros), every N steps.
- ``eval/``: periodic evaluations (on the test set, or a sample of it), under the same tags as
  ``train/`` (``accuracy``), so both curves share a chart.
- ``validation/``: evaluations on a validation set (retrain, MNIST early stopping), as
  retrain.py's ``--summaries_dir`` wrote them.

Chapters that are not a training loop (style, dream, adversarial, stimuli) write their scalars
and images with :meth:`RunWriters.scalars` and :meth:`RunWriters.images`.  Graph-side pieces
(:func:`add_input_images`, :func:`add_histograms`) take tensors and add summary ops to the
default graph; :class:`RunWriters` owns the FileWriters; nothing opens a Session.
"""

import io
from pathlib import Path

import numpy as np
from PIL import Image

from cnn_cookbook.fileio import ensure_dir, ensure_writable_dir
from cnn_cookbook.tf1 import tf

HISTOGRAMS = "cnn_cookbook_histograms"  # a collection of its own: merge_all() leaves it out
EVAL_RUNS = {"test": "eval", "eval": "eval", "validation": "validation"}
IMAGES_SHOWN = 3


def eval_run_and_tag(name):
    """Where an evaluation metric goes: ``test_accuracy`` -> (eval, accuracy),
    ``validation_accuracy`` -> (validation, accuracy), anything else -> (eval, name)."""
    split, _, tag = name.partition("_")
    if split in EVAL_RUNS and tag:
        return EVAL_RUNS[split], tag
    return "eval", name


def add_scalar(tag, tensor, collections=None):
    """A scalar summary whose tag is exactly ``tag``: ``tf.summary.scalar`` names its tag after
    its node, which becomes ``learning_rate_1`` beside an op already called ``learning_rate``."""
    op = tf.raw_ops.ScalarSummary(tags=tf.constant(tag), values=tf.cast(tensor, tf.float32))
    for key in collections or [tf.GraphKeys.SUMMARIES]:
        tf.add_to_collection(key, op)
    return op


def add_input_images(images, max_outputs=IMAGES_SHOWN, name="input"):
    """An image summary of (the first ``max_outputs`` of) a batch [N, H, W, 1|3], any range:
    TensorBoard shows floats outside 0..1 rescaled, as tf.summary.image does."""
    return tf.summary.image(name, images, max_outputs=max_outputs)


def add_histograms(activations=None, variables=None):
    """Histograms of ``variables`` (default: the trainable ones) and of each activation in the
    dict ``activations`` (name -> tensor) with its sparsity, as tensorflow/models' cifar10 did.
    They go to their own collection, run only every ``--histograms-every`` steps by :func:`fit`."""
    # tags under weights/, activations/ and sparsity/: a summary named like an existing op (the
    # variable itself) would get a "_1" suffix
    ops = []
    for variable in variables if variables is not None else tf.trainable_variables():
        ops.append(tf.summary.histogram(f"weights/{variable.op.name}", variable, collections=[HISTOGRAMS]))
    for name, tensor in sorted((activations or {}).items()):
        if tensor.dtype.is_floating:
            ops.append(tf.summary.histogram(f"activations/{name}", tensor, collections=[HISTOGRAMS]))
            ops.append(tf.summary.scalar(f"sparsity/{name}", tf.nn.zero_fraction(tensor), collections=[HISTOGRAMS]))
    return ops


def relu_activations(graph, exclude_scope=None):
    """{op name: output} of every Relu in ``graph`` (outside ``exclude_scope``): the activations of a
    network whose builder returns no endpoints, such as the CIFAR towers."""
    return {op.name: op.outputs[0] for op in graph.get_operations()
            if op.type == "Relu" and not (exclude_scope and op.name.startswith(exclude_scope + "/"))}


def training_summary_ops():
    """(summaries op, histograms op) for :func:`cnn_cookbook.training.fit`: every summary in the
    default graph (input images, learning rate, ...) and the histograms; either may be None.
    Loss and accuracy are not among them: fit fetches those anyway, and writes them from Python
    under the exact tags ``loss`` and ``accuracy`` that the eval runs share."""
    return tf.summary.merge_all(), tf.summary.merge_all(HISTOGRAMS)


def png_bytes(image):
    """PNG bytes of an HxW or HxWx1|3 uint8 image."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def image_summary(tag, images, value_range=(0.0, 255.0)):
    """A ``tf.Summary`` of NumPy images in ``value_range``: one HxW or HxWx1|3 image, or a list
    or [N, H, W, C] batch of them (tagged ``tag/image/i``)."""
    single = not isinstance(images, (list, tuple)) and np.ndim(images) in (2, 3)
    batch = [images] if single else list(images)
    lo, hi = value_range
    values = []
    for index, image in enumerate(batch):
        pixels = np.clip((np.asarray(image, np.float64) - lo) / (hi - lo) * 255.0, 0, 255).round().astype(np.uint8)
        height, width = pixels.shape[:2]
        channels = 1 if pixels.ndim == 2 else pixels.shape[-1]
        name = tag if single else f"{tag}/image/{index}"
        values.append(tf.Summary.Value(tag=name, image=tf.Summary.Image(
            height=height, width=width, colorspace=channels, encoded_image_string=png_bytes(pixels))))
    return tf.Summary(value=values)


def events_folder(output_dir, summaries_dir=None):
    """A run's TensorBoard folder: ``summaries_dir``, else ``output_dir/tensorboard``, checked
    writable now (TensorFlow's event writer only logs a failure and carries on)."""
    if summaries_dir:
        return ensure_writable_dir(summaries_dir, "summaries_dir")
    return ensure_writable_dir(Path(output_dir) / "tensorboard", "output_dir")


class RunWriters:
    """The FileWriters of one TensorBoard folder: ``train/`` (with ``graph``), ``eval/``,
    ``validation/``, ... each made when first written to.  Use as a context manager, or close().

    ``histogram_every``: how often :func:`cnn_cookbook.training.fit` runs the histogram ops
    (0: never).  ``loss_decay``: the moving average behind ``loss_average``.
    """

    def __init__(self, logdir, graph=None, histogram_every=0, loss_decay=0.9):
        self.logdir = Path(logdir)
        self.graph = graph
        self.histogram_every = max(0, int(histogram_every or 0))
        self.loss_decay = loss_decay
        self._writers = {}
        self._loss_average = None

    def writer(self, run):
        if run not in self._writers:
            folder = ensure_dir(self.logdir / run)
            self._writers[run] = tf.summary.FileWriter(str(folder), self.graph if run == "train" else None)
        return self._writers[run]

    def add(self, run, summary, step):
        """A serialized summary (what a merged summary op returns) or a ``tf.Summary``."""
        self.writer(run).add_summary(summary, int(step))

    def scalars(self, run, step, values):
        """Python numbers as scalar summaries; None and non-finite values are left out."""
        kept = [tf.Summary.Value(tag=tag, simple_value=float(value)) for tag, value in values.items()
                if value is not None and np.isfinite(float(value))]
        if kept:
            self.add(run, tf.Summary(value=kept), step)

    def images(self, run, tag, images, step, value_range=(0.0, 255.0)):
        self.add(run, image_summary(tag, images, value_range), step)

    def train_step(self, step, fetched, write=True):
        """Called by fit after every step with what it fetched (``loss``, ``accuracy``, and any
        ``summary`` / ``histograms``): keeps the loss's moving average, and when ``write`` writes
        loss, loss_average and accuracy to train/ with the fetched summaries."""
        loss = float(fetched["loss"])
        self._loss_average = loss if self._loss_average is None else \
            self.loss_decay * self._loss_average + (1 - self.loss_decay) * loss
        if write:
            self.scalars("train", step, {"loss": loss, "loss_average": self._loss_average,
                                         "accuracy": fetched.get("accuracy")})
        if "summary" in fetched:
            self.add("train", fetched["summary"], step)
        if "histograms" in fetched:
            self.add("train", fetched["histograms"], step)

    def evaluation(self, step, results):
        """An evaluation's metrics, each into its run (:func:`eval_run_and_tag`)."""
        by_run = {}
        for name, value in results.items():
            run, tag = eval_run_and_tag(name)
            by_run.setdefault(run, {})[tag] = value
        for run, values in by_run.items():
            self.scalars(run, step, values)

    def flush(self):
        for writer in self._writers.values():
            writer.flush()

    def close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
