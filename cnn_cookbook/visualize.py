"""Looking inside a network: activation maximisation (Hvass #13) and maximum-stimulus filter
images (the Keras CIFAR-10 tutorial), on any loaded :class:`cnn_cookbook.graphs.ImageNetwork`.

Networks: inception5h (:func:`cnn_cookbook.nets.inception5h.load_inception5h`), Inception v3's
frozen graph (:func:`load_inception_v3`), or a checkpoint trained by the MNIST or CIFAR recipes
(:func:`load_checkpoint_network`, which rebuilds the network named in ``network.json`` and
restores its weights), so an offline user can look inside their own network.

- :func:`maximize_activation`: Hvass #13, gradient ascent from grey noise with the step
  ``1 / std(g)`` and the pixels clipped to the network's range, for a channel of a layer or a
  class logit.
- :func:`maximum_stimuli`: the Keras CIFAR-10 tutorial, gradient ascent from grey noise with the gradient divided
  by its L2 norm, for several filters of a conv layer at once (one image per filter in a batch,
  when the graph takes batches); :func:`stimuli_figure` draws the grid.

Fixes against the Keras CIFAR-10 tutorial: the title showed the filter index after it was incremented (filter #1
was the image of filter 0); filters whose activation stayed negative were silently skipped and
replaced by the next one (the grid's indices no longer matched the filters) - here every
requested filter is drawn, and the inactive ones are marked; the noise had (width, height)
swapped and three channels hard-coded.
"""

from collections import namedtuple
from pathlib import Path

import numpy as np

from cnn_cookbook import graphs, training
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.tf1 import tf

#: ``images`` [N, H, W, C] in the network's value range, display images [N, H, W, C] 0..255,
#: and per-image objective values before and after the ascent
Stimuli = namedtuple("Stimuli", ["images", "display", "before", "after", "filters"])
#: ``probabilities``/``reached`` only when the ascent watches a class probability (else None)
Maximized = namedtuple("Maximized", ["image", "scores", "probabilities", "reached"], defaults=(None, None))

INCEPTION_V3_INPUT = "ResizeBilinear:0"
INCEPTION_V3_LOGITS = "softmax/logits:0"


# ---------------------------------------------------------------------------------------------
# Loading networks


def load_checkpoint_network(checkpoint_dir):
    """Rebuild the network a cookbook recipe trained and return it with a ``restore`` step.

    Reads ``<checkpoint_dir>/network.json`` (``network``, ``image_shape``, ``num_classes``,
    optionally ``class_names`` and ``value_range``), builds the registered network on an image
    placeholder in the current default graph, and sets ``restore(session)``, which loads only
    the network's variables from the latest checkpoint.  Layers: the network's 4-D endpoints
    (conv layers), in order.  Pixel values are 0..1 unless ``value_range`` says otherwise.
    """
    from cnn_cookbook.nets import get_network

    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        raise CookbookError(f"no checkpoints folder at {checkpoint_dir}; train a network first (python "
                            "recipes/mnist_cnn.py --dataset synthetic) or give --checkpoint-dir")
    info = training.read_network_info(checkpoint_dir)
    try:
        builder = get_network(info["network"])
        image_shape = [int(d) for d in info["image_shape"]]
        num_classes = int(info["num_classes"])
    except (KeyError, TypeError, ValueError):
        raise CookbookError(f"{checkpoint_dir / training.NETWORK_INFO} lacks network, image_shape or "
                            "num_classes; point at a checkpoints folder written by a cnn_cookbook recipe") from None
    before = set(tf.global_variables())
    images = tf.placeholder(tf.float32, [None, *image_shape], name="images")
    logits, endpoints = builder(images, num_classes, False)
    variables = [v for v in tf.global_variables() if v not in before]
    checkpoints = training.Checkpoints(checkpoint_dir, var_list=variables)
    layers = {name: t for name, t in endpoints.items() if t.get_shape().ndims == 4}
    return graphs.ImageNetwork(
        images=images, layers=layers, value_range=tuple(info.get("value_range", (0.0, 1.0))),
        image_size=tuple(image_shape[:2]), logits=logits, class_names=info.get("class_names"),
        name=f"network {info['network']!r} of {checkpoint_dir}", restore=checkpoints.restore,
        extra={"info": info})


def find_inception_v3(models_dir=None, download_missing=False):
    """Path of the real ``classify_image_graph_def.pb`` (``<models>/inception/``, extracted once
    from inception-2015-12-05.tgz, downloaded when asked), found as the Inception v3 chapter
    finds it."""
    from cnn_cookbook.nets import inception_v3

    return inception_v3.locate_inception_v3("inception_v3", models_dir=models_dir, download=download_missing).graph_path


def load_inception_v3(graph_path, name="import"):
    """Inception v3's ``classify_image_graph_def.pb`` seen from ``ResizeBilinear:0`` (Hvass #13).

    ``images``: [1, 299, 299, 3] float32, RGB 0..255 (the graph normalises internally); the
    graph was frozen for one image, so the batch is 1.  Layers: its 94 Conv2D ops by op name
    (``conv/Conv2D``, ..., ``mixed_10/tower_2/conv/Conv2D``).  ``logits``: ``softmax/logits``.
    """
    graph_def = graphs.load_graph_def(graph_path)
    names = set(graphs.node_names(graph_def))
    if INCEPTION_V3_INPUT[:-2] not in names:
        raise CookbookError(f"{graph_path} has no {INCEPTION_V3_INPUT[:-2]!r} node, so it is not Inception "
                            "v3's classify_image_graph_def.pb")
    images = tf.placeholder(tf.float32, [1, 299, 299, 3], name="images")
    prefix = graphs.import_graph_def(graph_def, {INCEPTION_V3_INPUT: images}, name=name,
                                     source=graph_path)
    graph = tf.get_default_graph()
    logits = graph.get_tensor_by_name(prefix + INCEPTION_V3_LOGITS) if INCEPTION_V3_LOGITS[:-2] in names else None
    return graphs.ImageNetwork(images=images, layers=graphs.conv2d_layers(graph, prefix),
                               value_range=(0.0, 255.0), image_size=(299, 299), batch_size=1,
                               logits=logits, prefix=prefix, name=f"Inception v3 graph {graph_path}")


# ---------------------------------------------------------------------------------------------
# Objectives per image (graph pieces)


def filter_scores(layer, filters):
    """Per-image objective [N]: the mean of channel ``filters[i]`` of ``layer`` for image i.

    ``layer`` is [N, h, w, C] (or [N, C] for a dense layer), ``filters`` an int32 [N] tensor.
    """
    axes = list(range(1, layer.get_shape().ndims - 1))
    means = tf.reduce_mean(layer, axis=axes) if axes else layer
    return tf.reduce_sum(means * tf.one_hot(filters, int(layer.get_shape()[-1])), axis=1)


def grey_noise(count, height, width, channels, value_range, amplitude, rng):
    """Mid-grey images [count, H, W, C] plus uniform noise of +-amplitude/2 of the value range."""
    lo, hi = value_range
    noise = rng.uniform(-0.5, 0.5, size=(count, height, width, channels)) * amplitude
    return ((lo + hi) / 2 + noise * (hi - lo)).astype(np.float32)


def standardized_display(images, spread=0.25):
    """The Keras tutorial's ``image_values_to_rgb``: each image to mean 0.5, std ``spread``, then 0..255."""
    images = np.asarray(images, dtype=np.float64)
    axes = tuple(range(1, images.ndim))
    mean = images.mean(axis=axes, keepdims=True)
    std = images.std(axis=axes, keepdims=True)
    return np.clip((images - mean) / np.maximum(std, 1e-8) * spread + 0.5, 0, 1) * 255.0


# ---------------------------------------------------------------------------------------------
# Algorithms


class StimulusOps:
    """The ops for maximum stimuli of one layer, built once: filter ids in, per-image scores and
    L2-normalised gradients out."""

    def __init__(self, network, layer_name):
        self.network = network
        layer = network.tensor(layer_name)
        with network.graph.as_default(), tf.name_scope("stimuli"):
            self.filters = tf.placeholder(tf.int32, [None], name="filters")
            self.scores = filter_scores(layer, self.filters)
            gradient = tf.gradients(tf.reduce_sum(self.scores), network.images)[0]
            if gradient is None:
                raise CookbookError(f"layer {layer_name!r} does not depend on the input image")
            norm = tf.sqrt(tf.reduce_sum(tf.square(gradient), axis=[1, 2, 3], keepdims=True))
            self.gradient = gradient / (norm + 1e-10)
        self.channels = int(layer.get_shape()[-1])


def maximum_stimuli(session, network, layer, filters, steps=20, step_size=1.0, image_size=None,
                    noise=0.1, rng=None, ops=None, on_step=None):
    """The Keras CIFAR-10 tutorial: for each filter index, the image that maximises the filter's mean activation.

    Starts from grey plus uniform noise (``noise`` x the value range, the tutorial's 0.1), then
    ``steps`` steps of ``step_size`` x range along the gradient divided by its L2 norm (the
    tutorial's input span was 1, so step 1.0 there is 1.0 x range here).  ``image_size`` (H, W) is
    needed only for networks that take any size (default 128x128).  Filters are processed
    together when the graph takes batches.  ``on_step()`` is called after each step (a progress
    bar's update).  Returns :class:`Stimuli`.
    """
    rng = rng or np.random.default_rng()
    ops = ops or StimulusOps(network, layer)
    filters = [int(f) for f in filters]
    for f in filters:
        if not 0 <= f < ops.channels:
            raise CookbookError(f"filter {f} is out of range for layer {layer!r}, which has {ops.channels} "
                                f"filters (0..{ops.channels - 1})")
    height, width = network.image_size or image_size or (128, 128)
    channels = int(network.images.get_shape()[-1])
    lo, hi = network.value_range
    images = grey_noise(len(filters), height, width, channels, network.value_range, noise, rng)
    chunk = network.batch_size or len(filters) or 1
    before, after = np.zeros(len(filters)), np.zeros(len(filters))
    for start in range(0, len(filters), chunk):
        part = slice(start, start + chunk)
        feed = {ops.filters: filters[part]}
        batch = images[part]
        for step in range(steps):
            scores, grad = session.run([ops.scores, ops.gradient], {**feed, network.images: batch})
            if step == 0:
                before[part] = scores
            batch = batch + grad * step_size * (hi - lo)
            if on_step is not None:
                on_step()
        after[part] = session.run(ops.scores, {**feed, network.images: batch})
        images[part] = batch
    return Stimuli(images, standardized_display(images), before, after, filters)


def stimuli_figure(stimuli, layer, cols=8):
    """The Keras tutorial's grid (2 rows x 8 by default): each filter's stimulus, titled with its index;
    filters whose activation stayed <= 0 are marked ``(inactive)``."""
    from cnn_cookbook import plots

    titles = [f"filter #{f}" + ("" if a > 0 else " (inactive)") for f, a in zip(stimuli.filters, stimuli.after)]
    return plots.image_grid(list(stimuli.display), titles, cols=min(cols, len(titles)), vmax=255.0,
                            title=f"maximum stimuli of {layer}")


def maximize_activation(session, network, score, steps=30, step_size=1.0, image_size=None, rng=None,
                        image=None, gradient=None, probability=None, threshold=None, on_step=None):
    """Hvass #13: gradient ascent on one image to maximise scalar ``score``.

    Starts from mid-grey plus noise of 1/255 of the range (Hvass: uniform 128..129), steps by
    ``step_size * g / std(g)`` (in units of 1/255 of the value range) and clips to the range.  ``gradient`` may be passed in so repeated calls
    add no ops.  With a scalar ``probability`` tensor and a ``threshold``, the ascent stops as
    soon as the probability reaches it (``steps`` is then the limit).  ``on_step()`` is called
    after each step (a progress bar's update).  Returns :class:`Maximized` (image HxWxC, score
    per step, before the step; with ``probability`` also its value per step and whether the
    threshold was reached).
    """
    rng = rng or np.random.default_rng()
    if gradient is None:
        with network.graph.as_default():
            gradient = tf.gradients(score, network.images)[0]
    lo, hi = network.value_range
    if image is None:
        height, width = network.image_size or image_size or (224, 224)
        channels = int(network.images.get_shape()[-1])
        image = (lo + hi) / 2 + rng.uniform(0, 1, (height, width, channels)) * (hi - lo) / 255.0
    image = np.array(image, dtype=np.float32)
    watch = probability is not None and threshold is not None
    scores, probabilities = [], []
    for _ in range(steps):
        fetches = [score, gradient] + ([probability] if watch else [])
        value, grad, *seen = session.run(fetches, {network.images: image[None]})
        scores.append(float(value))
        if watch:
            probabilities.append(float(seen[0]))
            if probabilities[-1] >= threshold:
                return Maximized(image, scores, probabilities, True)
        image = np.clip(image + grad[0] / (grad.std() + 1e-8) * step_size * (hi - lo) / 255.0, lo, hi)
        if on_step is not None:
            on_step()
    final = session.run([score] + ([probability] if watch else []), {network.images: image[None]})
    scores.append(float(final[0]))
    if not watch:
        return Maximized(image, scores)
    probabilities.append(float(final[1]))
    return Maximized(image, scores, probabilities, probabilities[-1] >= threshold)


def class_score(network, class_id):
    """The logit of class ``class_id`` for the first image (Hvass #13's objective for classes)."""
    if network.logits is None:
        raise CookbookError(f"{network.name} has no logits to maximise a class with; pick --layer instead")
    count = int(network.logits.get_shape()[-1])
    if not 0 <= class_id < count:
        raise CookbookError(f"class {class_id} is out of range: the network has {count} classes (0..{count - 1})")
    return network.logits[0, class_id]


if __name__ == "__main__":  # `python -m cnn_cookbook.visualize` says which recipe to run
    from cnn_cookbook.__main__ import run_as_module

    run_as_module("visualize")
