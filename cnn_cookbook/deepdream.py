"""DeepDream: gradient ascent on an image to amplify what a layer of a network sees.

The renderers of TensorFlow's DeepDream notebook (which the cookbook's recipe reproduces) and of
Hvass-Labs #14, written around one :class:`Dreamer` that owns every op they share:

- objectives (:func:`channel_score`, :func:`mean_square_score`, :func:`sum_scores`) are scalar
  tensors; :meth:`Dreamer.objective` adds the gradient op for one *once*, and the resize and
  Laplacian-pyramid ops are built once per Dreamer, so the graph does not grow while rendering
  (the notebook built new resize ops at every call);
- :meth:`Dreamer.tiled_gradient` computes the gradient tile by tile (512 px by default) on a
  randomly rolled copy of the image and rolls the result back, so tile borders move between
  steps;
- renderers: :func:`render_naive`, :func:`render_multiscale` (octaves x1.4),
  :func:`render_lapnorm` (Laplacian-pyramid gradient normalisation), :func:`render_deepdream`
  (low/high frequency split per octave) and :func:`render_recursive` (Hvass #14: blurred
  tile-normalised gradients, down-scaling by 0.7, blending 0.2).

Images are float32 HxWxC arrays with the network's pixel values (0..255 for inception5h);
renderers return a :class:`DreamResult` with the final image and the objective per step.

Fixes against the tutorials: the tiles cover the whole image (the notebook's loop skips a border
strip narrower than half a tile, which then gets no gradient in that step); each tile's gradient
is weighted by its share of the image, so the tiled gradient is the gradient of the whole image's
objective and a narrow edge tile is not inflated; ops are built once.
"""

import inspect
import time
from collections import namedtuple
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from cnn_cookbook import progress as progress_bars
from cnn_cookbook import run_folder, summaries
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.fileio import ensure_dir, save_image
from cnn_cookbook.io.images import load_image_or_photo
from cnn_cookbook.nets import inception5h
from cnn_cookbook.plots import new_figure
from cnn_cookbook.results import ChapterRun
from cnn_cookbook.tf1 import new_session, seed_everything, tf

Objective = namedtuple("Objective", ["score", "gradient", "description"])
Objective.__doc__ = """A scalar ``score`` tensor, its ``gradient`` with respect to the network's
images ([1, H, W, C]) and a short ``description`` for reports."""

#: final image and the objective value (on the tiles of that step) for every step as
#: ``(octave, step, score)``; ``octave`` counts from the coarsest scale (0)
DreamResult = namedtuple("DreamResult", ["image", "scores"])


# ---------------------------------------------------------------------------------------------
# Objectives (graph pieces: tensors in, scalar tensor out)


def channel_score(layer, channel):
    """Mean of one channel of ``layer`` [N, h, w, C] over batch and positions (a scalar)."""
    return tf.reduce_mean(layer[..., channel])


def mean_square_score(layer):
    """Mean of the squared activations of a whole layer (Hvass #14's objective)."""
    return tf.reduce_mean(tf.square(layer))


def sum_scores(scores, weights=None):
    """Weighted sum of scalar objectives (weights default to 1)."""
    scores = list(scores)
    if len(scores) == 1 and weights is None:
        return scores[0]
    weights = [1.0] * len(scores) if weights is None else list(weights)
    return tf.add_n([w * s for w, s in zip(weights, scores)])


def layer_objective(network, layer, channel=None):
    """Score tensor and description for ``layer`` of ``network``: the mean of one ``channel``,
    or the mean square of the whole layer when ``channel`` is None.  Unknown layers and
    channels out of range raise a one-line :class:`CookbookError`."""
    tensor = network.tensor(layer)
    if channel is None:
        return mean_square_score(tensor), f"mean square of {layer}"
    network.check_channel(layer, channel)
    return channel_score(tensor, channel), f"{layer} channel {channel}"


def combined_objective(network, layers, channels):
    """Sum of :func:`layer_objective` over ``layers`` (one channel each, or one for all)."""
    if len(channels) == 1 and len(layers) > 1:
        channels = list(channels) * len(layers)
    if len(channels) != len(layers):
        raise CookbookError(f"give one channel for all layers or one per layer "
                            f"({len(layers)} layers, {len(channels)} channels)", field=("channel", "layer"))
    parts = [layer_objective(network, layer, channel) for layer, channel in zip(layers, channels)]
    return sum_scores([score for score, _ in parts]), " + ".join(text for _, text in parts)


# ---------------------------------------------------------------------------------------------
# NumPy helpers


def start_image(spec, max_size=None, size=224, rng=None):
    """The start image as float32 HxWx3 0..255 and a note (or None).

    ``spec``: ``noise`` (the notebook's grey noise, ``size`` square), the name of a photograph
    bundled with scikit-image (:data:`cnn_cookbook.io.images.BUNDLED_PHOTOS`, no download) or a
    path to an image file.
    """
    if spec == "noise":
        return noise_image(size, size, rng=rng), None
    return load_image_or_photo(spec, max_size, MIN_IMAGE_SIZE,
                               "DeepDream (inception5h shrinks the image 16 times by its middle layers)")


#: the smallest side of a start image: inception5h's middle layers see it 16 times smaller, and
#: the lower octaves shrink it further
MIN_IMAGE_SIZE = 32


def tile_boxes(height, width, tile_size):
    """Tiles covering an HxW image: ``[(y0, y1, x0, x1), ...]``, as even as possible.

    The number of tiles per axis is ``round(size / tile_size)`` (at least 1), so no tile is
    smaller than about half a tile (small tiles give noisy gradients).
    """
    def edges(size):
        count = max(1, int(round(size / tile_size)))
        return np.linspace(0, size, count + 1).round().astype(int)

    ys, xs = edges(height), edges(width)
    return [(int(y0), int(y1), int(x0), int(x1))
            for y0, y1 in zip(ys[:-1], ys[1:]) for x0, x1 in zip(xs[:-1], xs[1:])]


def visstd(image, spread=0.1):
    """Display range for images dreamt from noise: standardise, scale by ``spread``, 0..255."""
    image = np.asarray(image, dtype=np.float64)
    scaled = (image - image.mean()) / max(image.std(), 1e-4) * spread + 0.5
    return np.clip(scaled, 0.0, 1.0) * 255.0


def noise_image(height, width, channels=3, rng=None):
    """The notebook's start image: grey (100) plus uniform noise 0..1, float32 HxWxC."""
    rng = rng or np.random.default_rng()
    return (rng.uniform(size=(height, width, channels)) + 100.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The session side


class Dreamer:
    """A Session and a network plus the ops the renderers share, each built exactly once.

    ``network`` is a :class:`cnn_cookbook.graphs.ImageNetwork` taking images of any size.  The
    caller owns ``session``.  ``session_seconds`` accumulates the time spent inside
    ``Session.run`` (the benchmark compares it with the total).
    """

    def __init__(self, session, network):
        self.session = session
        self.network = network
        self.channels = int(network.images.get_shape()[-1])
        self.session_seconds = 0.0
        self._objectives = {}
        self._lap_norm = {}
        with network.graph.as_default(), tf.name_scope("dreamer"):
            self._resize_in = tf.placeholder(tf.float32, [None, None, self.channels], name="resize_image")
            self._resize_to = tf.placeholder(tf.int32, [2], name="resize_size")
            self._resized = tf.image.resize_bilinear(self._resize_in[None], self._resize_to)[0]
            self._blur = _gaussian_blur_op(self.channels)
        self._lap_norm_op(4)  # the notebook's pyramid depth; other depths are built on first use

    # -- running -----------------------------------------------------------------------------

    def run(self, fetches, feed_dict):
        start = time.perf_counter()
        try:
            return self.session.run(fetches, feed_dict)
        finally:
            self.session_seconds += time.perf_counter() - start

    def objective(self, score, description=""):
        """The :class:`Objective` for scalar tensor ``score``; its gradient op is made once."""
        key = score.name
        if key not in self._objectives:
            with self.network.graph.as_default(), tf.name_scope("dreamer"):
                gradient = tf.gradients(score, self.network.images)[0]
            if gradient is None:
                raise CookbookError(f"objective {description or key} does not depend on the input image")
            self._objectives[key] = Objective(score, gradient, description or key)
        return self._objectives[key]

    def score(self, objective, image, tile_size=None):
        """Objective value on ``image`` (HxWxC); with ``tile_size``, the pixel-weighted tile mean."""
        boxes = tile_boxes(*image.shape[:2], tile_size) if tile_size else [(0, image.shape[0], 0, image.shape[1])]
        total = float(image.shape[0] * image.shape[1])
        value = 0.0
        for y0, y1, x0, x1 in boxes:
            tile_value = self.run(objective.score, {self.network.images: image[None, y0:y1, x0:x1]})
            value += float(tile_value) * (y1 - y0) * (x1 - x0) / total
        return value

    def gradient(self, objective, image):
        """Untiled gradient of the objective for ``image`` (HxWxC) and the objective's value."""
        grad, value = self.run([objective.gradient, objective.score], {self.network.images: image[None]})
        return grad[0], float(value)

    def tiled_gradient(self, objective, image, tile_size=512, shift=None, rng=None, normalize_tiles=False):
        """Gradient of the objective computed tile by tile on a rolled image, rolled back.

        ``shift`` = (dy, dx) rolls the image before tiling (default: random in [0, tile_size),
        as in the notebook) and the gradient is rolled back by the same amount, exactly.  Each
        tile's gradient is weighted by the tile's share of the image's pixels, so for a mean-type
        objective the result equals the untiled gradient away from tile borders.  With
        ``normalize_tiles`` each tile's gradient is instead divided by its standard deviation
        (Hvass #14).  Returns ``(gradient HxWxC, objective value)``.
        """
        height, width = image.shape[:2]
        if shift is None:
            rng = rng or np.random.default_rng()
            shift = rng.integers(tile_size, size=2)
        dy, dx = int(shift[0]), int(shift[1])
        rolled = np.roll(image, (dy, dx), axis=(0, 1))
        grad = np.zeros_like(image)
        total = float(height * width)
        value = 0.0
        for y0, y1, x0, x1 in tile_boxes(height, width, tile_size):
            g, tile_value = self.gradient(objective, rolled[y0:y1, x0:x1])
            share = (y1 - y0) * (x1 - x0) / total
            grad[y0:y1, x0:x1] = g / (g.std() + 1e-8) if normalize_tiles else g * share
            value += tile_value * share
        return np.roll(grad, (-dy, -dx), axis=(0, 1)), value

    def resize(self, image, size):
        """Bilinear resize of HxWxC ``image`` to ``size`` = (H, W), with the op built once."""
        size = np.maximum(1, np.int32(size))  # an octave scale below 1 must not shrink to 0 px
        return self.run(self._resized, {self._resize_in: image, self._resize_to: size})

    def lap_normalize(self, gradient, levels=4):
        """Normalise each level of a Laplacian pyramid of ``gradient`` (HxWxC) by its RMS."""
        placeholder, output = self._lap_norm_op(levels)
        return self.run(output, {placeholder: gradient})

    def _lap_norm_op(self, levels):
        if levels not in self._lap_norm:
            with self.network.graph.as_default(), tf.name_scope("dreamer"):
                placeholder = tf.placeholder(tf.float32, [None, None, self.channels], name="lap_norm_in")
                self._lap_norm[levels] = (placeholder, laplacian_normalize(placeholder, levels))
        return self._lap_norm[levels]


    def gaussian_blur(self, image, sigma, truncate=4.0):
        """``scipy.ndimage.gaussian_filter(image, sigma)`` for HxWxC ``image`` (all three axes,
        mode 'reflect'), run as a TensorFlow op built once: separable depthwise convolutions on a
        symmetrically padded image, then the (reflected) blur across the channels as a CxC
        matrix.  Hvass #14 blurs every gradient three times, and SciPy's single-threaded
        filter was the largest cost outside ``Session.run``."""
        radius = int(truncate * sigma + 0.5)
        if radius >= min(image.shape[:2]):  # TF's symmetric padding cannot reflect more than once
            return gaussian_filter(image, sigma, truncate=truncate)
        image_in, kernel_in, mix_in, output = self._blur
        taps = gaussian_filter1d(np.eye(2 * radius + 1, dtype=np.float64)[radius], sigma, truncate=truncate)
        mix = gaussian_filter1d(np.eye(self.channels), sigma, axis=0, truncate=truncate)
        return self.run(output, {image_in: image, kernel_in: taps.astype(np.float32),
                                 mix_in: mix.astype(np.float32)})


def _gaussian_blur_op(channels):
    image = tf.placeholder(tf.float32, [None, None, channels], name="blur_in")
    taps = tf.placeholder(tf.float32, [None], name="blur_taps")
    mix = tf.placeholder(tf.float32, [channels, channels], name="blur_channel_mix")
    radius = (tf.size(taps) - 1) // 2
    depthwise = tf.tile(taps[:, None, None, None], [1, 1, channels, 1])  # [k, 1, C, 1]
    x = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    x = tf.nn.depthwise_conv2d(x, depthwise, [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, tf.transpose(depthwise, [1, 0, 2, 3]), [1, 1, 1, 1], "VALID")
    # mix[c, i] is the weight of input channel i in output channel c
    return image, taps, mix, tf.tensordot(x[0], tf.transpose(mix), axes=1)


def _pyramid_kernel(channels):
    k = np.float32([1, 4, 6, 4, 1])
    k = np.outer(k, k)
    return (k[:, :, None, None] / k.sum() * np.eye(channels, dtype=np.float32)).astype(np.float32)


def laplacian_normalize(image, levels=4, eps=1e-10):
    """Graph piece: split HxWxC ``image`` into a Laplacian pyramid of ``levels`` band-pass
    levels plus the low-pass rest, divide each by its RMS, and merge (TensorFlow notebook)."""
    channels = int(image.get_shape()[-1])
    kernel = tf.constant(_pyramid_kernel(channels))
    x = image[None]
    bands = []
    for _ in range(levels):
        low = tf.nn.conv2d(x, kernel, [1, 2, 2, 1], "SAME")
        bands.append(x - tf.nn.conv2d_transpose(low, kernel * 4, tf.shape(x), [1, 2, 2, 1]))
        x = low
    bands.append(x)
    bands = [b / tf.maximum(tf.sqrt(tf.reduce_mean(tf.square(b))), eps) for b in bands[::-1]]
    out = bands[0]
    for band in bands[1:]:
        out = tf.nn.conv2d_transpose(out, kernel * 4, tf.shape(band), [1, 2, 2, 1]) + band
    return out[0]


# ---------------------------------------------------------------------------------------------
# Renderers


def render_naive(dreamer, objective, image, steps=20, step_size=1.0, callback=None):
    """Plain gradient ascent on the whole image, the step scaled by the gradient's std."""
    image = np.array(image, dtype=np.float32)
    scores = []
    for step in range(steps):
        g, value = dreamer.gradient(objective, image)
        image += g * (step_size / (g.std() + 1e-8))
        scores.append((0, step, value))
        if callback:
            callback(0, step, value)
    return DreamResult(image, scores)


def _octave_ascent(dreamer, objective, image, steps, octaves, octave_scale, tile_size, rng, callback,
                   update):
    """Gradient ascent at ``octaves`` growing scales; ``update(g)`` turns a gradient into a step."""
    rng = rng or np.random.default_rng()
    image = np.array(image, dtype=np.float32)
    scores = []
    for octave in range(octaves):
        if octave > 0:
            image = dreamer.resize(image, np.int32(np.float32(image.shape[:2]) * octave_scale))
        for step in range(steps):
            g, value = dreamer.tiled_gradient(objective, image, tile_size, rng=rng)
            image += update(g)
            scores.append((octave, step, value))
            if callback:
                callback(octave, step, value)
    return DreamResult(image, scores)


def render_multiscale(dreamer, objective, image, steps=10, step_size=1.0, octaves=3, octave_scale=1.4,
                      tile_size=512, rng=None, callback=None):
    """Gradient ascent at ``octaves`` growing scales (x ``octave_scale``), tiled gradients.

    The image grows: the result is ``octave_scale ** (octaves - 1)`` times the input's size.
    """
    return _octave_ascent(dreamer, objective, image, steps, octaves, octave_scale, tile_size, rng, callback,
                          lambda g: g * (step_size / (g.std() + 1e-8)))


def render_lapnorm(dreamer, objective, image, steps=10, step_size=1.0, octaves=3, octave_scale=1.4,
                   lap_levels=4, tile_size=512, rng=None, callback=None):
    """Multiscale ascent with the gradient normalised per Laplacian-pyramid level.

    Balancing the frequencies keeps the high ones from dominating (smoother patterns).
    """
    return _octave_ascent(dreamer, objective, image, steps, octaves, octave_scale, tile_size, rng, callback,
                          lambda g: dreamer.lap_normalize(g, lap_levels) * step_size)


def render_deepdream(dreamer, objective, image, steps=10, step_size=1.5, octaves=4, octave_scale=1.4,
                     tile_size=512, rng=None, callback=None):
    """The notebook's ``render_deepdream``: the image is split into a low-frequency base
    (shrunk ``octaves - 1`` times by ``octave_scale``) and the high-frequency detail lost at each
    shrink; ascent runs on the base, then at each larger octave the detail is added back and the
    ascent continues.  The step is ``step_size / mean|g|``.  The result has the input's size.
    """
    rng = rng or np.random.default_rng()
    image = np.array(image, dtype=np.float32)
    check_octaves(image.shape, octaves, octave_scale)
    details = []
    for _ in range(octaves - 1):
        size = image.shape[:2]
        low = dreamer.resize(image, np.int32(np.float32(size) / octave_scale))
        details.append(image - dreamer.resize(low, size))
        image = low
    scores = []
    for octave in range(octaves):
        if octave > 0:
            detail = details[-octave]
            image = dreamer.resize(image, detail.shape[:2]) + detail
        for step in range(steps):
            g, value = dreamer.tiled_gradient(objective, image, tile_size, rng=rng)
            image += g * (step_size / (np.abs(g).mean() + 1e-7))
            scores.append((octave, step, value))
            if callback:
                callback(octave, step, value)
    return DreamResult(image, scores)


def check_octaves(shape, octaves, octave_scale):
    """Refuse an image (``shape`` H, W, ...) that :func:`render_deepdream` would shrink below one
    pixel in its coarsest octave."""
    size = np.int32(shape[:2])
    for _ in range(octaves - 1):  # the sizes render_deepdream shrinks to
        size = np.int32(np.float32(size) / octave_scale)
    if size.min() < 1:
        raise CookbookError(f"a {shape[1]}x{shape[0]} image is too small for {octaves} octaves at scale "
                            f"{octave_scale} (the coarsest would be under 1 pixel); use fewer octaves or a "
                            "larger image", field="octaves")


def optimize_blurred(dreamer, objective, image, steps=10, step_size=3.0, tile_size=400, rng=None,
                     octave=0, scores=None, callback=None):
    """Hvass #14's ``optimize_image``: tile-normalised gradients, blurred at three widths that
    grow over the steps (sigma = 4 step / steps + 0.5, and x2, x0.5), step ``step_size / std``."""
    rng = rng or np.random.default_rng()
    image = np.array(image, dtype=np.float32)
    scores = [] if scores is None else scores
    for step in range(steps):
        g, value = dreamer.tiled_gradient(objective, image, tile_size, rng=rng, normalize_tiles=True)
        sigma = step * 4.0 / steps + 0.5
        # blurring the colour axis too keeps the input's colours (Hvass's choice)
        g = sum(dreamer.gaussian_blur(g, s) for s in (sigma, sigma * 2, sigma * 0.5))
        image += g * (step_size / (g.std() + 1e-8))
        scores.append((octave, step, value))
        if callback:
            callback(octave, step, value)
    return image


def render_recursive(dreamer, objective, image, repeats=4, rescale_factor=0.7, blend=0.2, steps=10,
                     step_size=3.0, tile_size=400, rng=None, callback=None):
    """Hvass #14's ``recursive_optimize``, as a loop: blur (sigma 0.5, not across colours) and
    shrink by ``rescale_factor`` ``repeats`` times; dream on the smallest; then at each larger
    level blend ``blend`` of that level's image with ``1 - blend`` of the enlarged dream and dream
    again.  Hvass resized through 8-bit PIL images; here resizing stays in float (bilinear).
    """
    rng = rng or np.random.default_rng()
    levels = [np.array(image, dtype=np.float32)]
    for _ in range(repeats):
        blurred = gaussian_filter(levels[-1], sigma=(0.5, 0.5, 0.0))
        size = np.maximum(1, (np.float32(blurred.shape[:2]) * rescale_factor).astype(np.int32))
        levels.append(dreamer.resize(blurred, size))
    scores = []
    result = None
    for octave, level in enumerate(reversed(levels)):
        if result is not None:
            level = blend * level + (1.0 - blend) * dreamer.resize(result, level.shape[:2])
        result = optimize_blurred(dreamer, objective, level, steps, step_size, tile_size, rng,
                                  octave=octave, scores=scores, callback=callback)
    return DreamResult(result, scores)


def with_defaults(renderer, settings):
    """``settings`` (keywords of ``RENDERERS[renderer]``) with the renderer's defaults filled in."""
    defaults = {name: p.default for name, p in inspect.signature(RENDERERS[renderer]).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return dict(defaults, **settings)


def total_steps(renderer, settings):
    """How many gradient steps ``RENDERERS[renderer](**settings)`` takes (for a progress bar)."""
    values = with_defaults(renderer, settings)
    if renderer == "naive":
        return values["steps"]
    if renderer == "recursive":
        return values["steps"] * (values["repeats"] + 1)
    return values["steps"] * values["octaves"]


def scores_figure(scores, title):
    """The objective at every step (all octaves in a row), as a Matplotlib Figure."""
    fig = new_figure()
    ax = fig.add_subplot()
    values = [value for _, _, value in scores]
    ax.plot(range(len(values)), values, "k.-", linewidth=0.8)
    for boundary in [i for i in range(1, len(scores)) if scores[i][0] != scores[i - 1][0]]:
        ax.axvline(boundary - 0.5, color="0.8", linewidth=0.8)  # octave changes
    ax.set(title=title, xlabel="step (octaves separated by lines)", ylabel="objective")
    return fig


RENDERERS = {
    "naive": render_naive,
    "multiscale": render_multiscale,
    "lapnorm": render_lapnorm,
    "deepdream": render_deepdream,
    "recursive": render_recursive,
}


# ---------------------------------------------------------------------------------------------
# The chapter

DEFAULT_LAYER = "mixed4d_3x3_bottleneck_pre_relu"
DEFAULT_CHANNEL = 30  # the cookbook's choice (the TensorFlow notebook uses 139)


@dataclass(frozen=True)
class DreamSettings:
    """Which renderer, and the settings a caller chose for it (None: the renderer's own default).

    The names are the command line's, one meaning for every renderer: ``steps`` per octave,
    ``octaves`` the number of scales (recursive: its levels, i.e. down-scalings + 1) and
    ``octave_scale`` the growth between them (recursive: 1 / its rescale factor).
    """

    # a table of settings, one field per flag (alike other chapters' settings only in shape)
    renderer: str = "deepdream"
    steps: int = None
    step_size: float = None
    octaves: int = None
    octave_scale: float = None
    tile_size: int = None

    def renderer_kwargs(self):
        """Keyword arguments for ``RENDERERS[renderer]``: only the settings given."""
        if self.renderer not in RENDERERS:
            raise CookbookError(f"renderer must be one of {', '.join(RENDERERS)}, not {self.renderer!r}",
                                field="renderer")
        kwargs = {"steps": self.steps, "step_size": self.step_size}
        if self.renderer == "recursive":
            kwargs["repeats"] = None if self.octaves is None else self.octaves - 1
            kwargs["rescale_factor"] = None if self.octave_scale is None else 1.0 / self.octave_scale
        elif self.renderer != "naive":
            kwargs.update(octaves=self.octaves, octave_scale=self.octave_scale)
        if self.renderer != "naive":
            kwargs["tile_size"] = self.tile_size
        return {name: value for name, value in kwargs.items() if value is not None}

    def resolved(self):
        """Every keyword of the renderer, the defaults filled in."""
        return with_defaults(self.renderer, self.renderer_kwargs())


def default_channels(renderer):
    """The cookbook's channel, or the whole layer's mean square for Hvass #14's renderer."""
    return [None if renderer == "recursive" else DEFAULT_CHANNEL]


def load_network(graph_path, announce=print):
    """inception5h (or its stand-in, which ``announce`` is told about) in the default graph."""
    network = inception5h.load_inception5h(graph_path)
    if network.stand_in:
        announce(f"using the {inception5h.STAND_IN_LABEL} graph {graph_path}: the code path of the "
                 "chapter, not its pictures (--download fetches inception5h)")
    return network


def list_layers(graph_path, announce=print):
    """``[(layer, channels), ...]`` of the graph at ``graph_path`` (in a Graph of its own)."""
    with tf.Graph().as_default():
        return load_network(graph_path, announce).describe_layers()


def shown_image(image, from_noise):
    """0..255: images dreamt from noise are shown standardised, as the notebook shows them."""
    return visstd(image) if from_noise else np.clip(image, 0, 255)


@run_folder.claiming
def dream(graph_path, *, layers=None, channels=None, image="astronaut", max_size=1024, settings=None,
          seed=0, device="auto", output_dir="runs/deepdream", summaries_dir=None, progress=True,
          announce=print):
    """The chapter: DeepDream on inception5h at ``graph_path``, in a Graph and Session of its own;
    returns a :class:`~cnn_cookbook.results.ChapterRun`.

    ``layers`` (default :data:`DEFAULT_LAYER`) and ``channels`` (one for all layers or one per
    layer; None: the layer's mean square; default :func:`default_channels`) make the objective;
    ``image`` is ``noise``, a bundled photograph or a file (:func:`start_image`, shrunk to
    ``max_size``); ``settings`` a :class:`DreamSettings`.  Writes ``input.png``, ``dream.png`` and
    TensorBoard events (``summaries_dir``, default ``tensorboard/``; train/: the objective per
    step, the input and the dream) into ``output_dir``, after moving an earlier run there aside.
    The metrics (what metrics.json holds: the objective before and after, on the whole image up
    to 1024 px) and the ``scores`` figure are returned, not written.
    """
    settings = settings or DreamSettings()
    kwargs = settings.renderer_kwargs()
    layers = list(layers or [DEFAULT_LAYER])
    output_dir = ensure_dir(output_dir, "output_dir")
    graph = tf.Graph()
    with graph.as_default():
        network = load_network(graph_path, announce)
        tag = f" [{inception5h.STAND_IN_LABEL}]" if network.stand_in else ""
        score, description = combined_objective(network, layers, channels or default_channels(settings.renderer))
        rng = seed_everything(seed)
        start, note = start_image(image, max_size, rng=rng)
        if note:
            announce(f"note: {note}")
        if settings.renderer == "deepdream":  # before anything is moved or written
            resolved = settings.resolved()
            check_octaves(start.shape, resolved["octaves"], resolved["octave_scale"])
        run_folder.keep_earlier_run(output_dir, announce=announce, summaries_dir=summaries_dir)
        logdir = summaries.events_folder(output_dir, summaries_dir)
        with new_session(graph, device) as session:
            dreamer = Dreamer(session, network)
            objective = dreamer.objective(score, description)
            announce(f"{settings.renderer}: maximising {description} on a {start.shape[1]}x{start.shape[0]} image{tag}")
            started = time.perf_counter()
            with summaries.RunWriters(logdir, graph) as writers:
                result = _render(dreamer, objective, start, settings.renderer, kwargs, rng, writers, progress,
                                 shown=lambda picture: shown_image(picture, image == "noise"))
            seconds = time.perf_counter() - started
            for octave in sorted({o for o, _, _ in result.scores}):
                values = [v for o, _, v in result.scores if o == octave]
                announce(f"octave {octave}: objective {values[-1]:.4f} after {len(values)} steps")
            session_seconds = dreamer.session_seconds
            # the whole image at once up to 1024 px: values comparable between renderers and tile sizes
            tile = max(1024, kwargs.get("tile_size", 512))
            before, after = dreamer.score(objective, start, tile), dreamer.score(objective, result.image, tile)
    paths = {"input": save_image(output_dir / "input.png", shown_image(start, image == "noise")),
             "dream": save_image(output_dir / "dream.png", shown_image(result.image, image == "noise")),
             "tensorboard": logdir}
    metrics = {
        "renderer": settings.renderer, "objective": description, "graph": str(graph_path),
        "network": network.name, "stand_in": network.stand_in,
        "image": image, "image_size": list(start.shape[:2]), "dream_size": list(result.image.shape[:2]),
        "settings": kwargs, "seed": seed, "objective_before": before, "objective_after": after,
        "scores": [{"octave": o, "step": s, "value": v} for o, s, v in result.scores],
        "seconds": seconds, "session_run_seconds": session_seconds,
    }
    figures = {"scores": scores_figure(result.scores, f"{description} ({settings.renderer}){tag}")}
    return ChapterRun(metrics=metrics, figures=figures, paths=paths,
                      outputs={"image": result.image, "start": start, "tag": tag})


def _render(dreamer, objective, image, renderer, kwargs, rng, writers, progress, shown):
    """One renderer's run with a progress bar and the objective per step in TensorBoard."""
    total = total_steps(renderer, kwargs)
    with progress_bars.bar(total=total, desc="dream", unit="step", enabled=progress) as bar:
        writers.images("train", "input", shown(image), 0)
        done = []

        def report(octave, step, value):
            done.append(value)
            writers.scalars("train", len(done), {"objective": value})
            bar.set_postfix(octave=octave, objective=f"{value:.4f}", refresh=False)
            bar.update(1)

        extra = {} if renderer == "naive" else {"rng": rng}
        result = RENDERERS[renderer](dreamer, objective, image, **kwargs, **extra, callback=report)
        writers.images("train", "dream", shown(result.image), len(done))
    return result


if __name__ == "__main__":  # `python -m cnn_cookbook.deepdream` runs the recipe of that name
    from cnn_cookbook.__main__ import run_as_module

    run_as_module("deepdream")
