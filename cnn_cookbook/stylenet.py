"""Neural style transfer (Gatys et al. 2015): the cookbook's StyleNet and Hvass tutorial #15.

The image being optimised is a ``tf.Variable`` in RGB 0..255; the network (VGG-19 or VGG-16,
see :mod:`cnn_cookbook.nets.vgg19` / :mod:`cnn_cookbook.nets.vgg16`) subtracts its own mean.
Content features and style Gram matrices are computed once, before the loop, and enter the loss
as constants.  :func:`stylize` is a generator yielding :class:`StepResult` (step, image, losses)
like anishathalye/neural-style; the caller owns the Session and decides what to print or save.

Loss terms, for both variants (F: features of the image, P: of the content, G/A: Gram matrices
of the image / the style, w: per-layer weights)::

    content = content_weight * sum_l w_l * mean((F_l - P_l)^2)
    style   = style_weight   * sum_s blend_s * sum_l w_l * mean((G_l - A_sl)^2)
    tv      = tv_weight      * (mean(dy^2) + mean(dx^2))        cookbook
              tv_weight      * (sum|dy| + sum|dx|)               Hvass

with G = F^T F / (H*W*C) in the cookbook and F^T F in Hvass.  Hvass's "loss normalisation"
multiplies each term by 1 / (its current value), re-estimated every step, so the weights are
relative (see :class:`StyleSettings`).

Fixes of the cookbook's code, documented here once:

* the style image was resized with skimage to 0..1 floats while the content stayed 0..255, so
  its Gram matrices were ~65000 times too small; here every image is 0..255;
* the VGG kernels were H/W-swapped on load (see :mod:`cnn_cookbook.nets.vgg19`);
* the total-variation term divided the vertical differences by the count of horizontal ones
  (and vice versa), which only agrees for square images;
* the output was written unclipped with ``scipy.misc.imsave`` (gone from SciPy); here it is
  clipped to 0..255 and written with imageio;
* the network was built three times (content, style, optimisation); here one set of weight
  constants serves all three.

And of Hvass #15: its first step used loss-adjustment values of 1e-10 (they are only measured
during that step); here they are measured on the initial image first.
"""

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from cnn_cookbook import progress as progress_bars
from cnn_cookbook import run_folder, summaries
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.fileio import ensure_dir, save_image
from cnn_cookbook.io import downloads
from cnn_cookbook.io.images import load_image_or_photo
from cnn_cookbook.nets.vgg16 import load_vgg16_graph
from cnn_cookbook.nets.vgg19 import center_crop_resize, load_vgg19_mat, locate_vgg19, top_classes
from cnn_cookbook.paths import models_root
from cnn_cookbook.plots import image_grid, new_figure
from cnn_cookbook.results import ChapterRun
from cnn_cookbook.tf1 import new_session, seed_everything, tf

OPTIMIZERS = ("adam", "lbfgs", "scaled-gd")


def _equal_weights(names):
    return {name: 1.0 / len(names) for name in names}


@dataclass(frozen=True)
class StyleSettings:
    """Everything that shapes a style-transfer run.  The defaults are the cookbook's StyleNet.

    ``gram_normalized``: divide Gram matrices by H*W*C (cookbook) or not (Hvass).
    ``tv_kind``: ``squared-mean`` (cookbook) or ``abs-sum`` (Hvass).
    ``adaptive_weights``: Hvass's loss normalisation (each term divided by its own value).
    ``learning_rate``: Adam's rate, or the step size of ``scaled-gd`` (Hvass's update: the
    gradient divided by its standard deviation times this, the image clipped to 0..255).
    ``noise_center`` / ``noise_scale``: noise init is center + scale * N(0, 1) per pixel; a
    center of None means the network's mean pixel (the cookbook's random_normal * 0.256 around
    zero in mean-subtracted space).
    ``style_max_size``: callers shrink style images to this longer side (Hvass used 300).
    """

    # a table of the cookbook's values (alike other chapters' settings only in shape)
    content_layers: dict = field(default_factory=lambda: {"relu4_2": 0.5, "relu5_2": 0.5})
    style_layers: dict = field(default_factory=lambda: _equal_weights(
        ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]))
    content_weight: float = 5.0
    style_weight: float = 500.0
    tv_weight: float = 100.0
    gram_normalized: bool = True
    tv_kind: str = "squared-mean"
    adaptive_weights: bool = False
    optimizer: str = "adam"
    learning_rate: float = 10.0
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    steps: int = 100
    report_every: int = 25
    init: str = "noise"
    noise_center: float = None
    noise_scale: float = 0.256
    pooling: str = "max"
    preserve_colors: bool = False
    style_max_size: int = None

    @classmethod
    def cookbook(cls, **overrides):
        """The TensorFlow Machine Learning Cookbook's StyleNet on VGG-19."""
        return replace(cls(), **overrides)

    @classmethod
    def hvass(cls, **overrides):
        """Hvass-Labs #15 on VGG-16: content conv3_1, style on all 13 conv layers, relative
        weights 1.5 / 10 / 0.3 with loss normalisation, 60 steps of size 10, noise around 128."""
        style = [f"relu{b}_{i}" for b, n in enumerate((2, 2, 3, 3, 3), 1) for i in range(1, n + 1)]
        settings = cls(content_layers={"relu3_1": 1.0}, style_layers=_equal_weights(style),
                       content_weight=1.5, style_weight=10.0, tv_weight=0.3,
                       gram_normalized=False, tv_kind="abs-sum", adaptive_weights=True,
                       optimizer="scaled-gd", learning_rate=10.0, steps=60, report_every=10,
                       noise_center=128.5, noise_scale=0.29, style_max_size=300)
        return replace(settings, **overrides)

    def check(self, layer_names):
        if self.optimizer not in OPTIMIZERS:
            raise CookbookError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.init not in ("noise", "content"):
            raise CookbookError(f"init must be 'noise' or 'content', not {self.init!r}")
        if self.pooling not in ("max", "avg"):
            raise CookbookError(f"pooling must be 'max' or 'avg', not {self.pooling!r}")
        if self.steps < 1:
            raise CookbookError(f"steps must be at least 1, not {self.steps}")
        unknown = sorted((set(self.content_layers) | set(self.style_layers)) - set(layer_names))
        if unknown:
            raise CookbookError(f"layers {', '.join(unknown)} are not in the network; "
                                f"choose from {', '.join(layer_names)}")


class StepResult(NamedTuple):
    """One optimisation step.

    ``losses``: the loss terms of the image that entered this step (content, style, tv, total).
    ``image``: HxWx3 float32 RGB 0..255 (not yet clipped) at checkpoint steps and in the final
    result, else None.  The final result (``final`` true) carries the best image seen (the last
    one with Hvass's adaptive weights, whose objective changes every step), its ``step`` is that
    image's step (0 = the initial image) and ``losses`` its losses.  With adaptive weights the
    reported terms are divided by their values on the initial image, so they start at the
    weights and show which term moved.
    ``diverged``: the loss became NaN or infinite; the final result is the best image before.
    """

    step: int
    image: np.ndarray
    losses: dict
    final: bool = False
    diverged: bool = False


# ---------------------------------------------------------------------------------------------
# NumPy helpers (no TensorFlow)


def gram_matrix_np(features, normalized=True):
    """Gram matrix of features [1,H,W,C] (or [H,W,C]): F^T F [C,C], / (H*W*C) when normalized."""
    features = np.asarray(features, dtype=np.float64)
    flat = features.reshape(-1, features.shape[-1])
    gram = flat.T @ flat
    return gram / features.size if normalized else gram


_YCBCR = np.array([[0.299, 0.587, 0.114],
                   [-0.168736, -0.331264, 0.5],
                   [0.5, -0.418688, -0.081312]])


def rgb_to_ycbcr(image):
    """RGB 0..255 -> YCbCr (ITU-R BT.601 full range, as JPEG/PIL): Y 0..255, Cb/Cr centred on 128."""
    ycbcr = np.asarray(image, dtype=np.float64) @ _YCBCR.T
    ycbcr[..., 1:] += 128.0
    return ycbcr


def ycbcr_to_rgb(ycbcr):
    shifted = np.array(ycbcr, dtype=np.float64)
    shifted[..., 1:] -= 128.0
    return shifted @ np.linalg.inv(_YCBCR).T


def luminance_rgb(image):
    """The luminance Y of an RGB image, repeated into 3 channels (0..255)."""
    y = rgb_to_ycbcr(image)[..., :1]
    return np.repeat(y, 3, axis=-1).astype(np.float32)


def preserve_colors(stylized, content):
    """The stylized image's luminance with the content's chroma (Cb, Cr); RGB 0..255, clipped."""
    combined = rgb_to_ycbcr(content)
    combined[..., 0] = rgb_to_ycbcr(stylized)[..., 0]
    return np.clip(ycbcr_to_rgb(combined), 0, 255).astype(np.float32)


def resize_image(image, shape):
    """``image`` (HxWx3, 0..255) resized to ``shape`` (height, width), bilinear, float32."""
    from skimage.transform import resize

    shape = (max(1, int(shape[0])), max(1, int(shape[1])))
    if tuple(image.shape[:2]) == shape:
        return np.asarray(image, np.float32)
    shrink = shape[0] < image.shape[0] or shape[1] < image.shape[1]
    return resize(image, shape, order=1, preserve_range=True, anti_aliasing=shrink).astype(np.float32)


def scale_to_width(image, width):
    """neural-style's ``--width``: resize to ``width`` pixels wide, the aspect ratio kept."""
    height = round(image.shape[0] * width / image.shape[1])
    return resize_image(image, (height, width))


def scale_style_to_content(style, content_shape, max_size=None):
    """Resize a style image (0..255, aspect kept) so its width matches the content's.

    The cookbook stretched the style to the content's exact shape (and to 0..1); here the aspect
    ratio is kept, as in neural-style, and ``max_size`` bounds the longer side.
    """
    from skimage.transform import resize

    height, width = style.shape[:2]
    scale = content_shape[1] / width
    if max_size:
        scale = min(scale, max_size / max(height, width))
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    if shape == (height, width):
        return np.asarray(style, dtype=np.float32)
    return resize(style, shape, order=1, preserve_range=True, anti_aliasing=scale < 1).astype(np.float32)


def style_blend_weights(count, blend=None):
    """Blend weights for ``count`` style images, normalised to sum to 1 (equal when None)."""
    weights = np.ones(count) if blend is None else np.asarray(blend, dtype=np.float64)
    if weights.shape != (count,):
        raise CookbookError(f"the style blend needs one weight per style image ({count}), got {len(weights)}",
                            field="style_blend")
    if np.any(weights < 0) or weights.sum() <= 0:
        raise CookbookError("the style blend weights must be >= 0 and not all zero", field="style_blend")
    return weights / weights.sum()


# ---------------------------------------------------------------------------------------------
# Graph pieces


def gram_matrix(features, normalized=True):
    """Gram matrix of features [1,H,W,C] (static or dynamic H, W): [C,C], / (H*W*C) if normalized."""
    channels = features.shape[-1]
    flat = tf.reshape(features, [-1, channels])
    gram = tf.matmul(flat, flat, transpose_a=True)
    if normalized:
        gram = gram / tf.cast(tf.size(features), gram.dtype)
    return gram


def content_loss(features, targets, layer_weights):
    """sum_l w_l * mean((F_l - P_l)^2) over the content layers; ``targets`` are NumPy arrays."""
    return tf.add_n([weight * tf.reduce_mean(tf.square(features[name] - targets[name]))
                     for name, weight in layer_weights.items()])


def style_loss(features, target_grams, layer_weights, normalized=True):
    """sum_l w_l * mean((G_l - A_l)^2) for one style image's Gram matrices ``target_grams``."""
    return tf.add_n([weight * tf.reduce_mean(tf.square(gram_matrix(features[name], normalized)
                                                       - target_grams[name]))
                     for name, weight in layer_weights.items()])


def total_variation_loss(image, kind="squared-mean"):
    """Smoothness of ``image`` [1,H,W,C]: mean(dy^2)+mean(dx^2), or sum|dy|+sum|dx| (``abs-sum``)."""
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    if kind == "squared-mean":
        return tf.reduce_mean(tf.square(dy)) + tf.reduce_mean(tf.square(dx))
    if kind == "abs-sum":
        return tf.reduce_sum(tf.abs(dy)) + tf.reduce_sum(tf.abs(dx))
    raise ValueError(f"unknown total-variation kind {kind!r}")


class LossTerms(NamedTuple):
    """Unweighted loss terms (scalar tensors)."""

    content: object
    style: object
    tv: object


def loss_terms(features, image, content_targets, style_targets, blend, settings):
    """The three unweighted terms for ``image`` [1,H,W,3] and its ``features``.

    ``style_targets``: one dict layer -> Gram matrix per style image; ``blend``: their weights.
    """
    content = content_loss(features, content_targets, settings.content_layers)
    style = tf.add_n([float(weight) * style_loss(features, grams, settings.style_layers,
                                                 settings.gram_normalized)
                      for weight, grams in zip(blend, style_targets)])
    return LossTerms(content, style, total_variation_loss(image, settings.tv_kind))


def compute_targets(session, stack, content, styles, settings):
    """Content features and per-style Gram matrices, each image through the network once.

    ``content``, ``styles``: HxWx3 float 0..255.  Returns (dict layer -> [1,H,W,C] array,
    [dict layer -> [C,C] array per style]).
    """
    with session.graph.as_default():
        image = tf.placeholder(tf.float32, [1, None, None, 3], name="target_image")
        features = stack(image, settings.pooling)
        grams = {name: gram_matrix(features[name], settings.gram_normalized)
                 for name in settings.style_layers}
    content_features = session.run({name: features[name] for name in settings.content_layers},
                                   {image: content[None]})
    style_grams = [session.run(grams, {image: style[None]}) for style in styles]
    return content_features, style_grams


class StyleTensors(NamedTuple):
    """The optimisation tensors built by :func:`build_style_tensors`."""

    image: object  # the tf.Variable, [1,H,W,3] RGB 0..255
    input: object  # the network's input: the variable's value unless fed (L-BFGS feeds it)
    losses: dict  # content, style, tv, total: weighted scalar tensors
    gradient: object  # d objective / d input (the objective is total, or Hvass's adapted sum)
    train_op: object  # one Adam / scaled-gd step (also keeps the best image); None for L-BFGS
    best_image: object
    best_loss: object
    start_op: object  # run once after initialisation (measures Hvass's adjustment values)


def build_style_tensors(stack, content_targets, style_targets, blend, initial_image, settings):
    """Build the loss and update ops around a variable image (in the current default graph).

    The update runs in the graph: one Session.run per step computes the forward and backward
    passes once, copies the image into ``best_image`` when its loss is the lowest so far, and
    applies the optimizer.  Only scalar losses need to leave the graph each step.
    """
    shape = initial_image.shape
    with tf.variable_scope("stylenet"):
        image = tf.get_variable("image", initializer=tf.constant(initial_image, tf.float32),
                                use_resource=True)
        best_image = tf.get_variable("best_image", initializer=tf.constant(initial_image, tf.float32),
                                     use_resource=True, trainable=False)
        best_loss = tf.get_variable("best_loss", initializer=tf.constant(np.inf, tf.float32),
                                    use_resource=True, trainable=False)
        current = image.read_value()
        net_input = tf.placeholder_with_default(current, shape, name="input")
        deepest = max(settings.content_layers.keys() | settings.style_layers.keys(),
                      key=stack.network.layer_names.index)
        features = stack(net_input, settings.pooling, last_layer=deepest)
        terms = loss_terms(features, net_input, content_targets, style_targets, blend, settings)
        weights = (settings.content_weight, settings.style_weight, settings.tv_weight)
        update_ops, start_ops = [], []
        if settings.adaptive_weights:
            # Hvass: each term times 1/(its value); ``adjust`` follows the current values (used
            # for the gradient), ``reported`` stays at the initial image's so the reported total
            # can fall.  Both are measured on the initial image by start_op.
            adjust = [tf.get_variable(f"adjust_{n}", initializer=1.0, use_resource=True,
                                      trainable=False) for n in LossTerms._fields]
            reported = [tf.get_variable(f"reported_{n}", initializer=1.0, use_resource=True,
                                        trainable=False) for n in LossTerms._fields]
            inverse = [1.0 / (term + 1e-10) for term in terms]
            start_ops = [v.assign(x) for v, x in zip(adjust + reported, inverse + inverse)]
            objective = tf.add_n([w * a.read_value() * t for w, a, t in zip(weights, adjust, terms)])
            weighted = [w * r.read_value() * t for w, r, t in zip(weights, reported, terms)]
        else:
            weighted = [w * t for w, t in zip(weights, terms)]
            objective = tf.add_n(weighted)
        total = tf.add_n(weighted)
        gradient, = tf.gradients(objective, net_input)
        if settings.adaptive_weights:
            with tf.control_dependencies([gradient]):
                update_ops = [a.assign(x) for a, x in zip(adjust, inverse)]

        improved = tf.less(total, best_loss.read_value())

        def keep():
            return tf.group(best_image.assign(current), best_loss.assign(total))

        keep_best = tf.cond(improved, keep, tf.no_op)
        train_op = None
        if settings.optimizer == "adam":
            optimizer = tf.train.AdamOptimizer(settings.learning_rate, settings.beta1,
                                               settings.beta2, settings.epsilon)
            with tf.control_dependencies([keep_best] + update_ops):
                train_op = optimizer.apply_gradients([(gradient, image)])
        elif settings.optimizer == "scaled-gd":
            _, variance = tf.nn.moments(gradient, axes=[0, 1, 2, 3])
            step = settings.learning_rate / (tf.sqrt(variance) + 1e-8)
            with tf.control_dependencies([keep_best] + update_ops):
                train_op = image.assign(tf.clip_by_value(current - step * gradient, 0.0, 255.0))
    losses = dict(zip(LossTerms._fields, weighted), total=total)
    return StyleTensors(image, net_input, losses, gradient, train_op, best_image, best_loss,
                      tf.group(*start_ops) if start_ops else tf.no_op())


def initial_image(content, network, settings, rng, start=None):
    """The starting image [1,H,W,3] (0..255): ``start`` (neural-style's ``--initial``, resized to
    the content's size), the content, or noise around the mean pixel."""
    if start is not None:
        return resize_image(np.asarray(start, np.float32), content.shape[:2])[None].copy()
    if settings.init == "content":
        return np.asarray(content, np.float32)[None].copy()
    center = network.mean_pixel if settings.noise_center is None else settings.noise_center
    noise = rng.standard_normal((1,) + content.shape).astype(np.float32) * settings.noise_scale
    return (noise + np.asarray(center, np.float32)).astype(np.float32)


def _finite(losses):
    return all(math.isfinite(value) for value in losses.values())


def stylize(session, network, content, styles, settings=None, style_blend=None, rng=None,
            checkpoint_every=None, initial=None):
    """Yield :class:`StepResult` for steps 1..``settings.steps``, then the final (best) image.

    ``session``: an open Session on an empty graph, owned by the caller.  ``network``: a
    :class:`~cnn_cookbook.nets.vgg19.FeatureNetwork`.  ``content``: HxWx3 float 0..255;
    ``styles``: a list of such images (any sizes).  Intermediate images come with the steps
    that are multiples of ``checkpoint_every`` (default ``settings.report_every``).
    With ``preserve_colors`` the transfer runs on luminance (content and styles converted) and
    every returned image takes the content's chroma.  ``initial``: an image (HxWx3, 0..255,
    any size) to start from instead of ``settings.init``.
    """
    settings = settings or StyleSettings()
    settings.check(network.layer_names)
    rng = rng if rng is not None else np.random.default_rng()
    checkpoint_every = checkpoint_every or settings.report_every
    content = np.asarray(content, np.float32)
    styles = [np.asarray(style, np.float32) for style in styles]
    if not styles:
        raise CookbookError("at least one style image is needed")
    blend = style_blend_weights(len(styles), style_blend)
    colour_source = content
    if settings.preserve_colors:
        content, styles = luminance_rgb(content), [luminance_rgb(style) for style in styles]
        if initial is not None:
            initial = luminance_rgb(np.asarray(initial, np.float32))

    def output(image):
        image = np.asarray(image, np.float32).reshape(content.shape)
        return preserve_colors(image, colour_source) if settings.preserve_colors else image

    with session.graph.as_default():
        stack = network.stack()
    content_targets, style_targets = compute_targets(session, stack, content, styles, settings)
    with session.graph.as_default():
        tensors = build_style_tensors(stack, content_targets, style_targets, blend,
                                  initial_image(content, network, settings, rng, initial), settings)
        init = tf.global_variables_initializer()
    session.run(init)
    session.run(tensors.start_op)
    if settings.optimizer == "lbfgs":
        yield from _run_lbfgs(session, tensors, settings, checkpoint_every, output)
    else:
        yield from _run_in_graph(session, tensors, settings, checkpoint_every, output)


def _run_in_graph(session, tensors, settings, checkpoint_every, output):
    """Adam / scaled-gd: one Session.run per step; the image only leaves at checkpoints."""
    best_step, best_losses = 0, None
    for step in range(1, settings.steps + 1):
        _, step_losses = session.run([tensors.train_op, tensors.losses])
        if not _finite(step_losses):
            yield StepResult(step, None, step_losses, diverged=True)
            if best_losses is not None:
                best = session.run(tensors.best_image)
                yield StepResult(best_step, output(best), best_losses, final=True, diverged=True)
            return
        if best_losses is None or step_losses["total"] < best_losses["total"]:
            # the losses are those of the image entering this step, i.e. after step - 1 updates
            best_step, best_losses = step - 1, step_losses
        image = None
        if step % checkpoint_every == 0 or step == settings.steps:
            image = output(session.run(tensors.image))
        yield StepResult(step, image, step_losses)
    # the last update's result has not been evaluated yet: one more forward pass
    final_losses, final_image = session.run([tensors.losses, tensors.image])
    # Hvass's adaptive weights have no fixed objective to pick a best image by: keep the last
    if _finite(final_losses) and (settings.adaptive_weights
                                  or final_losses["total"] <= best_losses["total"]):
        yield StepResult(settings.steps, output(final_image), final_losses, final=True)
    else:
        yield StepResult(best_step, output(session.run(tensors.best_image)), best_losses, final=True)


def _run_lbfgs(session, tensors, settings, checkpoint_every, output):
    """L-BFGS-B from SciPy, bounded to 0..255; loss and gradient in one Session.run per call.

    SciPy's minimiser is run in chunks of ``checkpoint_every`` iterations so that images can be
    handed out between chunks (the curvature memory restarts at each chunk, as in the Keras
    example this follows).  A step is one L-BFGS iteration (which may evaluate the loss more
    than once).  Hvass's adjustment values stay at the initial image's with L-BFGS, because
    the line search needs one fixed objective.
    """
    from scipy.optimize import Bounds, minimize

    shape = tensors.input.shape.as_list()
    fetches = {"losses": tensors.losses, "gradient": tensors.gradient}
    state = {"step": 0, "best": None, "best_losses": None, "best_step": 0, "last": None}

    class Diverged(Exception):
        pass

    def loss_and_gradient(x):
        result = session.run(fetches, {tensors.input: x.reshape(shape).astype(np.float32)})
        losses = {k: float(v) for k, v in result["losses"].items()}
        state["last"] = losses
        if not _finite(losses):
            raise Diverged()
        if state["best_losses"] is None or losses["total"] < state["best_losses"]["total"]:
            state["best"], state["best_losses"], state["best_step"] = x.copy(), losses, state["step"]
        return losses["total"], result["gradient"].ravel().astype(np.float64)

    def iteration_done(xk, records):
        state["step"] += 1
        records.append((state["step"], xk.copy(), dict(state["last"])))

    x = session.run(tensors.image).ravel().astype(np.float64)
    while state["step"] < settings.steps:
        records = []
        chunk = min(checkpoint_every, settings.steps - state["step"])
        try:
            result = minimize(loss_and_gradient, x, jac=True, method="L-BFGS-B",
                              bounds=Bounds(np.zeros(x.size), np.full(x.size, 255.0)),
                              callback=lambda xk: iteration_done(xk, records),
                              options={"maxiter": chunk, "maxcor": 10})
        except Diverged:
            for step, _, losses in records:
                yield StepResult(step, None, losses)
            yield StepResult(state["step"] + 1, None, state["last"], diverged=True)
            if state["best"] is not None:
                yield StepResult(state["best_step"], output(state["best"]), state["best_losses"],
                                 final=True, diverged=True)
            return
        for index, (step, xk, losses) in enumerate(records):
            last = index == len(records) - 1
            image = output(xk) if last and (step % checkpoint_every == 0
                                            or step == settings.steps) else None
            yield StepResult(step, image, losses)
        x = result.x
        if not records:  # converged before completing an iteration: nothing left to gain
            break
    yield StepResult(state["best_step"], output(state["best"]), state["best_losses"], final=True)


# ---------------------------------------------------------------------------------------------
# Images


def read_image(spec, max_size=None):
    """An image file or the name of a photograph bundled with scikit-image
    (:data:`cnn_cookbook.io.images.BUNDLED_PHOTOS`) -> (HxWx3 float32 0..255, note or None).

    Greyscale and RGBA files are converted to RGB; images larger than ``max_size`` are shrunk
    (the note says so); images with a side under :data:`MIN_IMAGE_SIZE` are refused.
    """
    return load_image_or_photo(spec, max_size, MIN_IMAGE_SIZE,
                               "StyleNet (VGG halves the image 4 times before its deepest style layer)")


#: the smallest side StyleNet takes: VGG pools 4 times before relu5_1, so 16 px end as 1 px there
MIN_IMAGE_SIZE = 16


# ---------------------------------------------------------------------------------------------
# Figures


def losses_figure(history, title="Style-transfer losses per step"):
    """Each loss term against step, log scale; ``history`` is a list of ``{"step": s, name: value}``."""
    fig = new_figure()
    ax = fig.add_subplot()
    names = [k for k in (history[0] if history else {}) if k != "step"]
    for name in names:
        points = [(row["step"], row[name]) for row in history if row.get(name) is not None and row[name] > 0]
        if points:
            ax.plot(*zip(*points), label=name, linewidth=1.0)
    ax.set(title=title, xlabel="step", ylabel="loss")
    if ax.get_lines():
        ax.set_yscale("log")
        ax.legend(loc="upper right")
    return fig


def images_figure(content, styles, result, title="Content, style(s) and result"):
    """Content, style images and the result side by side (HxWx3, 0..255)."""
    images = [content, *styles, np.clip(result, 0, 255)]
    titles = ["content", *[f"style {i + 1}" for i in range(len(styles))], "result"]
    return image_grid(images, titles, cols=len(images), vmax=255.0, title=title, size=3.0)


# ---------------------------------------------------------------------------------------------
# The chapter: its network, its images and the whole run

#: the download names (:mod:`cnn_cookbook.io.downloads`) of each variant's network file
NETWORK_FILES = {"vgg19": "vgg19", "vgg16": "vgg16_tfmodel"}
STAND_IN = "STAND-IN (random weights)"


def load_network(model="vgg19", weights="auto", path=None, download=False):
    """The :class:`~cnn_cookbook.nets.vgg19.FeatureNetwork` of ``model``: ``vgg19`` (the
    cookbook; ``weights`` auto, real or stand-in as :func:`~cnn_cookbook.nets.vgg19.locate_vgg19`
    finds it) or ``vgg16`` (Hvass #15's vgg16.tfmodel, real weights only).  ``path``: the file,
    instead of the one in the models folder."""
    if model == "vgg19":
        return load_vgg19_mat(locate_vgg19(weights, path, download=download)[0])
    if weights == "stand-in":
        raise CookbookError("stand-in weights exist for VGG-19 only; give the VGG-16 file",
                            field=("weights", "model"))
    return load_vgg16_graph(path or downloads.fetch(NETWORK_FILES[model], models_root(), download=download))


def network_label(network):
    return f"{network.name} {STAND_IN}" if network.stand_in else network.name


def load_images(content, styles, max_size=512, width=None, style_max_size=None, initial=None, announce=print):
    """Read the run's images (files or bundled photographs, :func:`read_image`), each shrunk to
    ``max_size``: ``(content, styles, initial)`` as HxWx3 float32 0..255 (``initial`` None when
    not given).  ``width`` resizes the content (aspect kept); the styles are scaled to the
    content's width (:func:`scale_style_to_content`, bounded by ``style_max_size``).  Each note
    (a conversion, a resize) goes to ``announce``."""
    def read(spec, what):
        image, note = read_image(spec, max_size)
        if note:
            announce(f"note: {what} {spec}: {note}")
        return image

    content_image = read(content, "content")
    if width:
        content_image = scale_to_width(content_image, width)
    style_images = [scale_style_to_content(read(spec, "style"), content_image.shape, style_max_size)
                    for spec in styles]
    return content_image, style_images, None if initial is None else read(initial, "initial image")


def check_step_pattern(pattern):
    """Refuse a file-name pattern for the step images that has not exactly one %-field."""
    try:
        pattern % 1
    except (TypeError, ValueError):
        raise CookbookError(f"the step-image pattern needs one %-field for the step number (e.g. out_%s.png), "
                            f"not {pattern!r}", field="checkpoint_output") from None
    return pattern


@run_folder.claiming
def transfer_style(network, content, styles, *, settings=None, style_blend=None, initial=None,
                   output_dir="runs/stylenet", output=None, step_pattern=None, checkpoint_every=None,
                   seed=0, device="auto", summaries_dir=None, progress=True, sources=None, announce=print):
    """The chapter: paint ``content`` in the style of ``styles`` with :func:`stylize`, in a
    Graph and Session of its own; returns a :class:`~cnn_cookbook.results.ChapterRun`.

    ``content``, ``styles``, ``initial``: HxWx3 float 0..255 (:func:`load_images`).  Writes into
    ``output_dir`` (an earlier run there is moved aside first): the result as ``output``
    (default ``stylized.png``), the image every ``checkpoint_every`` steps as ``step_pattern``
    (one %-field; default ``step_%04d.png``), and TensorBoard events in ``summaries_dir``
    (default ``tensorboard/``; train/: the loss terms per step and the images).  Metrics (what
    metrics.json holds), ``history`` (the loss terms per step, non-finite ones as None) and the
    two figures are returned, not written.  ``sources``: names of the images for the metrics
    (``{"content": ..., "style": [...]}``).  The network's notes and what runs go to ``announce``.

    A loss that becomes NaN or infinite stops the run: the best image so far is still written,
    ``metrics["diverged"]`` is true and ``outputs["diverged"]`` says what happened and what to do.
    """
    settings = settings or StyleSettings()
    style_blend_weights(len(styles), style_blend)  # fail before any heavy work
    output_dir = ensure_dir(output_dir, "output_dir")
    step_pattern = check_step_pattern(step_pattern or str(output_dir / "step_%04d.png"))
    output = Path(output) if output else output_dir / "stylized.png"
    sources = sources or {}
    label = network_label(network)
    for note in network.notes:
        announce(f"{label}: {note}")
    announce(f"{label}, {settings.optimizer}, {settings.steps} steps on a {content.shape[1]}x{content.shape[0]} "
             f"image, {len(styles)} style image(s)")
    run_folder.keep_earlier_run(output_dir, announce=announce, summaries_dir=summaries_dir)
    logdir = summaries.events_folder(output_dir, summaries_dir)
    graph = tf.Graph()
    with graph.as_default():
        rng = seed_everything(seed)
    started = time.perf_counter()
    with new_session(graph, device) as session, summaries.RunWriters(logdir, graph) as writers:
        writers.images("train", "content_image", content, 0)
        writers.images("train", "style_image", styles, 0)
        steps = stylize(session, network, content, styles, settings, style_blend, rng,
                        checkpoint_every or settings.report_every, initial)
        loop = _follow_steps(steps, settings, writers, step_pattern, progress)
    if loop.final is not None:
        save_image(output, loop.final.image)
    history, final = loop.history, loop.final
    diverged = bool(history and loop.last.diverged)
    metrics = {
        "network": network.name, "network_file": network.source, "stand_in": network.stand_in,
        "network_label": label, "content": sources.get("content"), "style": sources.get("style"),
        "style_blend": style_blend_weights(len(styles), style_blend),
        "image_size": list(content.shape[:2]), "optimizer": settings.optimizer, "steps": len(history),
        "settings": asdict(settings), "seed": seed,
        "initial_loss": history[0]["total"] if history else None,
        "final_loss": final.losses["total"] if final is not None else None,
        "best_step": final.step if final is not None else None,
        "seconds_per_step": loop.seconds / max(1, len(history)),
        "seconds_total": time.perf_counter() - started,
        "output": str(output) if output.exists() else None,
        "diverged": diverged, "history": history,
        "checksum_mismatch_accepted": list(downloads.ACCEPTED_MISMATCHES),
    }
    figures = {"losses": losses_figure(history, f"Losses per step: {label}")}
    if final is not None:
        figures["images"] = images_figure(content, styles, final.image, f"StyleNet: {label}")
    outputs = {"image": None if final is None else final.image, "label": label}
    if diverged:
        kept = (f"the best image so far (step {final.step}) was written to {output}"
                if final is not None else "no finite step to keep")
        outputs["diverged"] = (f"the loss became NaN or infinite at step {len(history)}; {kept}; "
                               "lower --learning-rate or the loss weights")
    paths = {"tensorboard": logdir, **loop.images, **({"output": output} if output.exists() else {})}
    return ChapterRun(metrics=metrics, figures=figures, history=history, paths=paths, outputs=outputs)


class _Followed(NamedTuple):
    history: list  # {"step": s, term: value or None (not finite)} per step
    final: StepResult  # the final (best) result, None when no step was finite
    last: StepResult  # the last result :func:`stylize` gave
    images: dict  # "step_NNNN" -> path of the image written at that step
    seconds: float  # from step 1 to the end (the first Session.run's set-up left out)


def _follow_steps(steps, settings, writers, step_pattern, progress):
    """Run :func:`stylize`'s steps: a progress bar, a line every report interval, the loss terms
    and images to TensorBoard, the step images to ``step_pattern``."""
    history, images, result = [], {}, None
    started = time.perf_counter()
    with progress_bars.bar(total=settings.steps, unit="step", desc="style", enabled=progress) as bar:
        for result in steps:
            if result.final:
                break
            if result.step == 1:
                started = time.perf_counter()
            history.append({"step": result.step, **{k: v if math.isfinite(v) else None
                                                    for k, v in result.losses.items()}})
            bar.set_postfix({k: f"{v:.3g}" for k, v in result.losses.items()}, refresh=False)
            bar.update(1)
            writers.scalars("train", result.step, result.losses)
            if result.step % settings.report_every == 0 or result.diverged:
                bar.write(f"step {result.step}/{settings.steps}: {describe_losses(result.losses)}")
            if result.image is not None:
                images[f"step_{result.step:04d}"] = save_image(step_pattern % result.step, result.image)
                writers.images("train", "stylized", result.image, result.step)
    final = result if result is not None and result.final else None
    if final is not None:
        writers.images("train", "stylized", final.image, settings.steps + 1)
    return _Followed(history, final, result, images, time.perf_counter() - started)


def describe_losses(losses):
    return " ".join(f"{name} {value:.4g}" for name, value in losses.items())


# ---------------------------------------------------------------------------------------------
# The VGG-19 check: is the .mat file loaded right?


@run_folder.claiming
def check_vgg19(path=None, *, image="chelsea", top_k=5, download=False, seed=0, device="auto",
                output_dir="runs/vgg19_check", announce=print):
    """Classify ``image`` (a file or a bundled photograph) with VGG-19's own fc6-fc8 head, in a
    Graph and Session of its own; returns a :class:`~cnn_cookbook.results.ChapterRun` whose
    metrics hold the ``top_k`` classes.  ``path``: the .mat file (default: the real one in the
    models folder; ``download`` fetches it).  A loader that swapped the kernels' height and width
    (as the cookbook's does) gives wrong or unsure classes on a clear photograph.
    """
    path = path or downloads.fetch("vgg19", models_root(), download=download)
    network = load_vgg19_mat(path)
    for note in network.notes:
        announce(f"vgg19: {note}")
    picture, note = read_image(image)
    if note:
        announce(f"note: {image}: {note}")
    picture = center_crop_resize(picture, network.image_size)
    run_folder.keep_earlier_run(ensure_dir(output_dir, "output_dir"), announce=announce)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [None, *network.image_size, 3])
        probabilities = network.stack().classify(images)
    with new_session(graph, device) as session:
        result = session.run(probabilities, {images: picture[None]})[0]
    top = top_classes(result, network.class_names, top_k)
    metrics = {"network_file": str(path), "image": image, "seed": seed,
               "top": [{"class": name, "probability": probability} for name, probability in top],
               "checksum_mismatch_accepted": list(downloads.ACCEPTED_MISMATCHES)}
    return ChapterRun(metrics=metrics, outputs={"probabilities": result})


if __name__ == "__main__":  # `python -m cnn_cookbook.stylenet` runs the recipe of that name
    from cnn_cookbook.__main__ import run_as_module

    run_as_module("stylenet")
