"""Looking inside a network: activation maximisation (Hvass #13) and maximum-stimulus filter
images (the Keras CIFAR-10 tutorial), on any loaded :class:`cnn_cookbook.graphs.ImageNetwork`.

Networks: inception5h (:func:`cnn_cookbook.nets.inception5h.load_inception5h`), Inception v3's
frozen graph (:func:`cnn_cookbook.nets.inception_v3.load_inception_v3`), or a checkpoint trained by
the MNIST or CIFAR recipes (:func:`cnn_cookbook.checkpoint_network.load_checkpoint_network`, which
rebuilds the network named in ``network.json`` and restores its weights), so an offline user can
look inside their own network.

- :func:`maximize_activation`: Hvass #13, gradient ascent from grey noise with the step
  ``1 / std(g)`` and the pixels clipped to the network's range, for a channel of a layer or a
  class logit.
- :func:`maximum_stimuli`: the Keras CIFAR-10 tutorial, gradient ascent from grey noise with the
  gradient divided by its L2 norm, for several filters of a conv layer at once (one image per
  filter in a batch, when the graph takes batches); :func:`stimuli_figure` draws the grid.
- :func:`visualize_filters`: the chapter (either of the two above, on a network it loads, in a
  Graph and Session of its own).

Fixes against the Keras CIFAR-10 tutorial: the title showed the filter index after it was
incremented (filter #1 was the image of filter 0); filters whose activation stayed negative were
silently skipped and replaced by the next one (the grid's indices no longer matched the filters)
- here every requested filter is drawn, and the inactive ones are marked; the noise had (width,
height) swapped and three channels hard-coded.
"""

from collections import namedtuple

import numpy as np

from cnn_cookbook import plots, run_folder, summaries
from cnn_cookbook import progress as progress_bars
from cnn_cookbook.deepdream import layer_objective
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.fileio import ensure_dir, save_image
from cnn_cookbook.nets import inception5h
from cnn_cookbook.checkpoint_network import load_checkpoint_network
from cnn_cookbook.nets.inception_v3 import find_inception_v3, load_inception_v3
from cnn_cookbook.results import ChapterRun
from cnn_cookbook.tf1 import new_session, seed_everything, tf

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
    """The Keras tutorial's ``image_values_to_rgb``: each image to mean 0.5, std ``spread``, 0..255."""
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
    titles = [f"filter #{f}" + ("" if a > 0 else " (inactive)") for f, a in zip(stimuli.filters, stimuli.after)]
    return plots.image_grid(list(stimuli.display), titles, cols=min(cols, len(titles)), vmax=255.0,
                            title=f"maximum stimuli of {layer}")


def maximize_activation(session, network, score, steps=30, step_size=1.0, image_size=None, rng=None,
                        image=None, gradient=None, probability=None, threshold=None, on_step=None):
    """Hvass #13: gradient ascent on one image to maximise scalar ``score``.

    Starts from mid-grey plus noise of 1/255 of the range (Hvass: uniform 128..129), steps by
    ``step_size * g / std(g)`` (in units of 1/255 of the value range) and clips to the range.
    ``gradient`` may be passed in so repeated calls add no ops.  With a scalar ``probability`` tensor and a ``threshold``, the ascent stops as
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
        raise CookbookError(f"{network.name} has no logits to maximise a class with; maximise a layer's channel "
                            "instead", field=("class_id", "layer"))
    count = int(network.logits.get_shape()[-1])
    if not 0 <= class_id < count:
        raise CookbookError(f"class {class_id} is out of range: the network has {count} classes (0..{count - 1})")
    return network.logits[0, class_id]


# ---------------------------------------------------------------------------------------------
# The chapter

MODELS = ("checkpoint", "inception5h", "inception_v3")


def load_network(model="checkpoint", checkpoint_dir=None, graph_path=None, download=False):
    """The network to look into, in the default graph: ``checkpoint`` (one trained by the MNIST or
    CIFAR-10 recipes, rebuilt from ``checkpoint_dir``), ``inception5h`` or ``inception_v3`` (the
    frozen graph at ``graph_path``, default the one in the models folder; ``download`` fetches it)."""
    if model == "checkpoint":
        return load_checkpoint_network(checkpoint_dir)
    if model == "inception5h":
        return inception5h.load_inception5h(graph_path or inception5h.find_inception5h(download_missing=download))
    if model == "inception_v3":
        return load_inception_v3(graph_path or find_inception_v3(download_missing=download))
    raise CookbookError(f"model must be one of {', '.join(MODELS)}, not {model!r}", field="model")


def list_layers(model="checkpoint", checkpoint_dir=None, graph_path=None, download=False):
    """``[(layer, channels), ...]`` of the network :func:`load_network` loads (in a Graph of its own)."""
    with tf.Graph().as_default():
        return load_network(model, checkpoint_dir, graph_path, download).describe_layers()


def default_layers(network, model):
    """What the chapter shows unless told: every conv layer of a trained network, inception5h's
    mixed4d_3x3_bottleneck_pre_relu, Inception v3's fifth conv layer (Hvass #13 shows conv_4)."""
    if model == "inception5h":
        return ["mixed4d_3x3_bottleneck_pre_relu"]
    if model == "inception_v3":
        names = list(network.layers)
        return names[min(4, len(names) - 1):][:1]
    convs = [name for name in network.layers if name.startswith("conv")]
    return convs or list(network.layers)


def file_name(text):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


@run_folder.claiming
def visualize_filters(*, model="checkpoint", checkpoint_dir="runs/mnist_cnn/checkpoints", graph_path=None,
                      download=False, layers=None, filters=16, first_filter=0, channel=None, class_ids=None,
                      steps=None, threshold=0.99, step_size=1.0, image_size=128, seed=0, device="auto",
                      output_dir="runs/visualize_filters", summaries_dir=None, progress=True, announce=print):
    """The chapter, in a Graph and Session of its own; returns a
    :class:`~cnn_cookbook.results.ChapterRun`.

    Without ``channel`` and ``class_ids``: the maximum-stimulus grid (:func:`maximum_stimuli`,
    ``steps`` default 20) of ``filters`` filters from ``first_filter`` of each of ``layers``
    (default :func:`default_layers`).  With them: Hvass #13's ascent (:func:`maximize_activation`)
    for each class logit in ``class_ids`` (until the class has probability ``threshold``; at
    most ``steps``, default 200) and for ``channel`` of each layer (``steps``, default 30),
    each image written as ``<target>_image.png``.  ``image_size``: the side for networks that
    take any size.  TensorBoard events (train/: the images, and each ascent's objective per
    step) go to ``summaries_dir`` (default ``output_dir/tensorboard``); an earlier run in
    ``output_dir`` is moved aside first.  Metrics and one figure per grid or image are returned.
    """
    output_dir = ensure_dir(output_dir, "output_dir")
    graph = tf.Graph()
    with graph.as_default():
        network = load_network(model, checkpoint_dir, graph_path, download)
        layers = layers or default_layers(network, model)
        rng = seed_everything(seed)
        # every op is built before the session starts: the ascents add none
        if class_ids or channel is not None:
            targets, probabilities = _ascent_targets(network, layers, channel, class_ids or [])
        else:
            grids = {layer: StimulusOps(network, layer) for layer in layers}
            shown = {layer: _filter_range(layer, ops.channels, first_filter, filters) for layer, ops in grids.items()}
        metrics = {"network": network.name, "seed": seed, "results": []}
        with new_session(graph, device) as session:
            if network.restore:
                network.restore(session)
            # after the restore: a checkpoint folder inside output_dir may be part of what moves
            run_folder.keep_earlier_run(output_dir, announce=announce, summaries_dir=summaries_dir)
            logdir = summaries.events_folder(output_dir, summaries_dir)
            with summaries.RunWriters(logdir, graph) as writers:
                if class_ids or channel is not None:
                    settings = dict(steps=steps, step_size=step_size, image_size=image_size, threshold=threshold)
                    figures = _ascend(session, network, targets, probabilities, settings, rng, writers,
                                      output_dir, metrics, progress, announce)
                else:
                    figures = _grids(session, network, grids, shown, steps or 20, step_size, image_size, rng,
                                     writers, metrics, progress, announce)
    return ChapterRun(metrics=metrics, figures=figures, paths={"tensorboard": logdir})


def _filter_range(layer, channels, first, count):
    if not 0 <= first < channels:
        raise CookbookError(f"the first filter {first} is out of range for layer {layer!r}, which has "
                            f"{channels} filters (0..{channels - 1})", field="first_filter")
    return list(range(first, min(first + count, channels)))


class _Target(namedtuple("_Target", ["name", "score", "gradient", "watched"])):
    """One ascent: output name, objective, its input gradient, the class probability watched."""


def _ascent_targets(network, layers, channel, class_ids):
    probabilities = tf.nn.softmax(network.logits[0]) if network.logits is not None else None
    targets = [(f"class_{class_id}", class_score(network, class_id), probabilities[class_id])
               for class_id in class_ids]
    if channel is not None:
        targets += [(f"{file_name(layer)}_channel_{channel}", layer_objective(network, layer, channel)[0], None)
                    for layer in layers]
    return [_Target(name, score, tf.gradients(score, network.images)[0], watched)
            for name, score, watched in targets], probabilities


def _ascend(session, network, targets, probabilities, settings, rng, writers, output_dir, metrics, progress,
            announce):
    """Hvass #13's ascent for each target: its image, metrics entry, figure and report line."""
    figures = {}
    threshold = settings["threshold"]
    lo, hi = network.value_range
    for target in targets:
        watched = target.watched is not None
        limit = settings["steps"] or (200 if watched else 30)
        with progress_bars.bar(total=limit, desc=target.name, unit="step", enabled=progress) as bar:
            result = maximize_activation(session, network, target.score, limit, settings["step_size"],
                                         (settings["image_size"],) * 2, rng, gradient=target.gradient,
                                         probability=target.watched, threshold=threshold if watched else None,
                                         on_step=bar.update)
        pixels = (result.image - lo) / (hi - lo) * 255.0
        save_image(output_dir / f"{target.name}_image.png", pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        writers.images("train", target.name, pixels, len(result.scores))
        for step, value in enumerate(result.scores):
            writers.scalars("train", step, {f"{target.name}/objective": value})
        entry = {"target": target.name, "objective_before": result.scores[0], "objective_after": result.scores[-1]}
        if watched:
            entry.update(steps_run=len(result.probabilities) - (0 if result.reached else 1), step_limit=limit,
                         threshold=threshold, reached=bool(result.reached),
                         target_probability=result.probabilities[-1])
        if probabilities is not None:
            probs = session.run(probabilities, {network.images: result.image[None]})
            top = int(np.argmax(probs))
            names = network.class_names
            entry.update(predicted_class=top, predicted_probability=float(probs[top]),
                         predicted_name=names[top] if names and top < len(names) else None)
        metrics["results"].append(entry)
        figures[target.name] = plots.scored_image(pixels / 255.0, _ascent_title(target.name, entry, watched))
        announce(_ascent_line(target.name, entry, watched))
    return figures


def _ascent_title(name, entry, watched):
    title = name.replace("_", " ")
    if watched:
        reached = "reached" if entry["reached"] else f"NOT reached, limit {entry['step_limit']}"
        return (f"{title}: p = {100 * entry['target_probability']:.2f}% after {entry['steps_run']} steps"
                f"\n(threshold {100 * entry['threshold']:g}% {reached})")
    if "predicted_class" in entry:
        return f"{title}: classified {entry['predicted_class']} ({100 * entry['predicted_probability']:.2f}%)"
    return title


def _ascent_line(name, entry, watched):
    line = f"{name}: objective {entry['objective_before']:.4f} -> {entry['objective_after']:.4f}"
    if "predicted_class" in entry:
        line += f", classified as {entry['predicted_class']} ({100 * entry['predicted_probability']:.2f}%)"
    if watched:
        line += (f"; p({name.split('_')[1]}) {100 * entry['target_probability']:.2f}% after {entry['steps_run']} "
                 f"steps: threshold {100 * entry['threshold']:g}% "
                 + ("reached" if entry["reached"] else f"not reached within {entry['step_limit']} steps "
                                                      "(raise --steps)"))
    return line


def _grids(session, network, grids, shown, steps, step_size, image_size, rng, writers, metrics, progress,
           announce):
    """The maximum-stimulus grid of each layer: its figure, metrics entry and report line."""
    figures = {}
    for layer, ops in grids.items():
        filters = shown[layer]
        chunks = -(-len(filters) // (network.batch_size or len(filters) or 1))
        with progress_bars.bar(total=steps * chunks, desc=layer, unit="step", enabled=progress) as bar:
            stimuli = maximum_stimuli(session, network, layer, filters, steps, step_size, (image_size,) * 2,
                                      rng=rng, ops=ops, on_step=bar.update)
        figures[f"stimuli_{file_name(layer)}"] = stimuli_figure(stimuli, layer)
        writers.images("train", f"stimuli_{file_name(layer)}", list(stimuli.display), steps)
        metrics["results"].append({"layer": layer, "filters": stimuli.filters,
                                   "activation_before": stimuli.before, "activation_after": stimuli.after})
        announce(f"{layer}: mean activation of {len(stimuli.filters)} filters "
                 f"{np.mean(stimuli.before):.4f} -> {np.mean(stimuli.after):.4f}")
    return figures
