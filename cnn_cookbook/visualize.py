"""Looking inside a network: activation maximisation (Hvass #13) and maximum-stimulus filter
images (the Keras CIFAR-10 tutorial), on any loaded :class:`cnn_cookbook.graphs.ImageNetwork`.

Networks: inception5h (:func:`cnn_cookbook.nets.inception5h.load_inception5h`), Inception v3's
frozen graph (:func:`cnn_cookbook.nets.inception_v3.load_inception_v3`), or a checkpoint trained by
the MNIST or CIFAR recipes (:func:`cnn_cookbook.nets.checkpoint.load_checkpoint_network`, which
rebuilds the network named in ``network.json`` and restores its weights), so an offline user can
look inside their own network.

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

import numpy as np

from cnn_cookbook.errors import CookbookError
# the loaders live with the networks; named here too because the filter recipe and notebooks use them
from cnn_cookbook.nets.checkpoint import load_checkpoint_network  # noqa: F401
from cnn_cookbook.nets.inception_v3 import find_inception_v3, load_inception_v3  # noqa: F401
from cnn_cookbook.tf1 import tf

#: ``images`` [N, H, W, C] in the network's value range, display images [N, H, W, C] 0..255,
#: and per-image objective values before and after the ascent
Stimuli = namedtuple("Stimuli", ["images", "display", "before", "after", "filters"])
#: ``probabilities``/``reached`` only when the ascent watches a class probability (else None)
Maximized = namedtuple("Maximized", ["image", "scores", "probabilities", "reached"], defaults=(None, None))


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
