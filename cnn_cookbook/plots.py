"""Plots as Matplotlib Figures (no pyplot, so nothing opens a window or needs a display).

Every function returns a ``matplotlib.figure.Figure`` (:class:`Figure`): a notebook displays it
inline with no ``%matplotlib`` magic (it has ``_repr_png_``, which IPython's rich display asks
for), a recipe passes a dict of them to :func:`finish`, which writes PNGs and, with ``--show``,
opens windows.
Images are HxW (grey) or HxWx3 arrays, 0..1 floats or 0..255 (pass ``vmax``).
"""

import io
import math
from pathlib import Path

import matplotlib.figure
import numpy as np

from cnn_cookbook.fileio import save_figure


class Figure(matplotlib.figure.Figure):
    """A Figure that Jupyter renders inline by itself.

    IPython shows a stand-alone Figure (one not made through pyplot) as its text repr unless a
    matplotlib backend registered a formatter for it (``%matplotlib inline``, or a first pyplot
    plot).  ``_repr_png_`` is IPython's own protocol for objects that draw themselves, so the
    figure renders as the last expression of a cell or through ``display()`` either way (once: a
    registered formatter takes precedence over it).
    """

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def new_figure(width=6.0, height=4.0):
    """An empty Figure with the package's layout; every plot starts from one."""
    return Figure(figsize=(width, height), layout="constrained")


def loss_curve(history, title="Softmax loss per step"):
    """Training loss against step (a :class:`cnn_cookbook.training.History`)."""
    fig = new_figure()
    ax = fig.add_subplot()
    ax.plot(history.train["step"], history.train["loss"], "k-", linewidth=0.8)
    ax.set(title=title, xlabel="step", ylabel="loss")
    return fig


def accuracy_curves(history, title="Train and test accuracy"):
    """Training-batch accuracy and every evaluated ``*_accuracy`` metric, in percent."""
    fig = new_figure()
    ax = fig.add_subplot()
    if any(a is not None for a in history.train["accuracy"]):
        ax.plot(history.train["step"], 100 * np.asarray(history.train["accuracy"], float), "k-",
                linewidth=0.5, alpha=0.6, label="train batch")
    styles = iter(["r--", "b-.", "g:", "m--"])
    for name, values in history.evals.items():
        if name.endswith("accuracy"):
            ax.plot(history.evals["step"], 100 * np.asarray(values, float), next(styles, "c-"),
                    label=name.replace("_", " "))
    ax.set(title=title, xlabel="step", ylabel="accuracy (%)")
    if ax.get_lines():  # a resumed run that had nothing left to do has no curves
        ax.legend(loc="lower right")
    return fig


def _show_image(ax, image, vmax):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        ax.imshow(image, cmap="binary" if vmax == 1.0 else "gray", vmin=0, vmax=vmax)
    else:
        ax.imshow(np.clip(image / vmax, 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(images, titles=None, cols=None, vmax=1.0, title=None, size=2.0):
    """A grid of images with an optional title each."""
    count = len(images)
    cols = cols or min(count, 6)
    rows = max(1, math.ceil(count / cols))
    fig = new_figure(size * cols, size * rows + (0.4 if title else 0))
    for i, image in enumerate(images):
        ax = fig.add_subplot(rows, cols, i + 1)
        _show_image(ax, image, vmax)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def prediction_grid(images, labels, predictions, class_names, count=6, cols=3, scores=None):
    """The book's figure: the first ``count`` images titled 'Actual: a Pred: p' (and score)."""
    titles = []
    for i in range(min(count, len(images))):
        text = f"Actual: {class_names[labels[i]]} Pred: {class_names[predictions[i]]}"
        if scores is not None:
            text += f" ({100 * scores[i]:.1f}%)"
        titles.append(text)
    return image_grid(images[:len(titles)], titles, cols=cols)


def confusion_matrix(labels, predictions, class_names, title="Confusion matrix (test set)"):
    """Counts of true class (rows) against predicted class (columns)."""
    n = len(class_names)
    counts = np.zeros((n, n), np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predictions)), 1)
    fig = new_figure(1.0 + 0.55 * n, 0.8 + 0.5 * n)
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        ax.text(col, row, str(value), ha="center", va="center", fontsize=7,
                color="white" if value > threshold else "black")
    ax.set(title=title, xlabel="predicted", ylabel="true")
    return fig


def channel_grid(maps, title, cmap="binary", limit=None):
    """Each channel of ``maps`` [h, w, channels] as a small image in a near-square grid.

    With ``limit``, the colour scale is fixed to -limit..limit (weights: red < 0 < blue with
    ``seismic``); without it each channel is scaled to its own range (activations).
    """
    maps = np.asarray(maps)
    count = maps.shape[-1]
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    fig = new_figure(1.2 * cols, 1.2 * rows + 0.4)
    scale = {} if limit is None else {"vmin": -limit, "vmax": limit}
    for i in range(count):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(maps[:, :, i], cmap=cmap, interpolation="nearest", **scale)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return fig


def conv_weights(kernel, input_channel=0, title="First conv layer weights"):
    """Each output filter of an HWIO kernel [h, w, in, out] at one input channel; red < 0 < blue."""
    kernel = np.asarray(kernel)[:, :, input_channel, :]
    return channel_grid(kernel, title, cmap="seismic", limit=np.abs(kernel).max() or 1.0)


def linear_weights(weights, image_shape=(28, 28), class_names=None, title="Weights per class"):
    """Hvass #01: the columns of a [pixels, classes] weight matrix shown as images."""
    weights = np.asarray(weights)
    limit = np.abs(weights).max() or 1.0
    count = weights.shape[1]
    fig = new_figure(1.6 * min(count, 5), 1.8 * math.ceil(count / 5))
    for i in range(count):
        ax = fig.add_subplot(math.ceil(count / 5), min(count, 5), i + 1)
        ax.imshow(weights[:, i].reshape(image_shape), vmin=-limit, vmax=limit, cmap="seismic")
        ax.set_title(class_names[i] if class_names else str(i), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return fig


def conv_outputs(activations, title="Conv layer outputs"):
    """The channels of one image's activation map [h, w, channels]."""
    return channel_grid(activations, title)


def finish(figures, output_dir, show=False):
    """Write each Figure as ``<output_dir>/<name>.png``; with ``show``, also open them on screen.

    Returns the list of written paths.
    """
    paths = [save_figure(fig, Path(output_dir) / f"{name}.png") for name, fig in figures.items()]
    if show:
        show_figures(figures, output_dir)
    return paths


# ---------------------------------------------------------------------------------------------
# The tutorials' other figures (Hvass #02, #04, #06, #08, #13)


def example_errors(images, labels, predictions, class_names, count=9, cols=3,
                   title="Misclassified test images"):
    """Hvass #02: the first ``count`` misclassified images, titled with true and predicted class.

    ``images`` [N, H, W, C] 0..1; returns None when every image is classified right.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    wrong = np.flatnonzero(labels != predictions)
    if not len(wrong):
        return None
    shown = wrong[:count]
    titles = [f"True: {class_names[labels[i]]}, Pred: {class_names[predictions[i]]}" for i in shown]
    return image_grid(np.asarray(images)[shown], titles, cols=min(cols, len(shown)),
                      title=f"{title} ({len(wrong)} of {len(labels)})")


def improvement_marks(history, metric="validation_accuracy", title="Validation accuracy (* = improved)"):
    """Hvass #04: the validation curve with a mark on every evaluation that beat the best so far."""
    steps = np.asarray(history.evals["step"])
    values = np.asarray([np.nan if v is None else v for v in history.evals.get(metric, [])], float)
    fig = new_figure()
    ax = fig.add_subplot()
    ax.plot(steps, 100 * values, "b-", linewidth=1, label=metric.replace("_", " "))
    improved = improved_steps(values)
    ax.plot(steps[improved], 100 * values[improved], "r*", markersize=9, label="improved")
    ax.set(title=title, xlabel="step", ylabel="accuracy (%)")
    if len(steps):
        ax.legend(loc="lower right")
    return fig


def improved_steps(values):
    """Indices of the values that are higher than every value before them (NaN never improves)."""
    best, marks = -np.inf, []
    for i, value in enumerate(values):
        if np.isfinite(value) and value > best:
            best = value
            marks.append(i)
    return np.asarray(marks, dtype=int)


def distorted_grid(images, title="Distorted training images", cols=3):
    """Hvass #06: images [N, H, W, 3] 0..1 as the training pipeline distorts them (first: original)."""
    titles = ["original"] + [f"distorted {i}" for i in range(1, len(images))]
    return image_grid(images, titles, cols=cols, title=title)


def reduce_to_2d(values, method="pca", seed=0):
    """Hvass #08: transfer values [N, D] -> points [N, 2] by PCA or t-SNE (scikit-learn).

    t-SNE runs on the first 50 PCA components, as the tutorial did (perplexity capped below N/3
    for small sets).
    """
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be pca or tsne, not {method!r}")
    values = np.asarray(values, np.float64)
    # one thread: t-SNE's OpenMP threads spin-wait, and on a busy 2-core machine 120 points took
    # 14 s of CPU with the default thread count against 0.5 s with one
    with threadpool_limits(limits=1):
        if method == "pca":
            return PCA(n_components=2, random_state=seed).fit_transform(values)
        from sklearn.manifold import TSNE

        reduced = PCA(n_components=min(50, *values.shape), random_state=seed).fit_transform(values)
        perplexity = float(min(30.0, max(1.0, (len(values) - 1) / 3.0)))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                    random_state=seed).fit_transform(reduced)


def transfer_values_scatter(points, labels, class_names, title="Transfer values"):
    """Hvass #08's scatter plot: 2-D points (:func:`reduce_to_2d`) coloured by class."""
    points, labels = np.asarray(points), np.asarray(labels)
    fig = new_figure(6.5, 5.0)
    ax = fig.add_subplot()
    cmap = matplotlib_colormap("tab10" if len(class_names) <= 10 else "tab20")
    for k, name in enumerate(class_names):
        mine = labels == k
        ax.scatter(points[mine, 0], points[mine, 1], s=12, color=cmap(k % cmap.N), label=name)
    ax.legend(fontsize=8, loc="best", markerscale=1.5)
    ax.set(title=f"{title} ({len(points)} images)", xticks=[], yticks=[])
    return fig


def matplotlib_colormap(name):
    from matplotlib import colormaps

    return colormaps[name]


def scored_image(image, title, vmax=1.0, size=4.0):
    """One image drawn large (nearest-neighbour, so 28x28 pixels stay sharp) with its title."""
    fig = new_figure(size, size + 0.5)
    ax = fig.add_subplot()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        shown = ax.imshow(image, cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
        fig.colorbar(shown, ax=ax, shrink=0.8)
    else:
        ax.imshow(np.clip(image / vmax, 0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    return fig


def display_problem():
    """Why no window can open here (a sentence), or None when one can."""
    import os
    import sys

    import matplotlib

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "there is no display (DISPLAY is not set)"
    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "cairo", "template") or backend.startswith("module://matplotlib_inline"):
        return f"matplotlib's backend {backend!r} draws no windows"
    return None


def show_figures(figures, output_dir="."):
    """Open ``figures`` in windows; where that is impossible, say so in one line instead."""
    problem = display_problem()
    if problem:
        print(f"--show: {problem}, so no window opens; the plots are the PNG files in {output_dir}")
        return False
    import matplotlib.pyplot as plt

    for fig in figures.values():
        # adopt the stand-alone Figure into pyplot so the GUI backend can show it
        manager = plt.figure().canvas.manager
        manager.canvas.figure = fig
        fig.set_canvas(manager.canvas)
    plt.show()
    return True

