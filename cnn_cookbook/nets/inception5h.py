"""inception5h (GoogLeNet, ``tensorflow_inception_graph.pb``): the DeepDream network.

The frozen graph comes in ``inception5h.zip`` with ``imagenet_comp_graph_label_strings.txt``
(one label a line).  Its ``input`` placeholder takes NHWC float images of any size from which
the caller has subtracted the ImageNet mean 117; :func:`load_inception5h` maps it to a
placeholder of raw pixel values 0..255 minus 117, so users feed plain images.  Its layers are
listed from the ``Conv2D`` ops (59 layers, 7548 channels in the real graph), named as the
DeepDream notebook names them (``conv2d0_pre_relu``, ``mixed4d_3x3_bottleneck_pre_relu``, ...).

Files: ``models/inception5h/`` (see :func:`find_inception5h`); ``--graph PATH`` in the recipes
points at any other copy.  Offline, :func:`locate_inception5h` falls back to a **stand-in**
(:func:`write_stand_in`): GoogLeNet's topology as inception5h has it (stem, nine mixed blocks of
four branches, the two auxiliary-head bottlenecks, the ``softmax2`` head) with the real graph's
op names and channel counts (59 layers, 7548 channels) and random He-scaled weights, marked by a
``cnn_cookbook_standin`` constant.  Renderers run on it unchanged; its dreams mean nothing, and
everything that uses it says STAND-IN (``ImageNetwork.stand_in``).
"""

from pathlib import Path

import numpy as np

from cnn_cookbook import graphs
from cnn_cookbook.io import downloads
from cnn_cookbook.errors import CookbookError, DataFormatError, MissingFileError
from cnn_cookbook.paths import models_root
from cnn_cookbook.tf1 import tf

GRAPH_FILE = "tensorflow_inception_graph.pb"
LABELS_FILE = "imagenet_comp_graph_label_strings.txt"
#: the mean pixel value the graph was trained with (one value for R, G and B)
IMAGENET_MEAN = 117.0
#: the logits of the main classifier head (softmax2 is its softmax)
LOGITS_NAME = "softmax2_pre_activation"
# the stand-in's constants: the same names in every pretrained network's module, other values
STAND_IN_VERSION = 1
STAND_IN_FOLDER = f"inception5h-standin-v{STAND_IN_VERSION}"
STAND_IN_MARKER = "cnn_cookbook_standin"
STAND_IN_LABEL = "STAND-IN (random weights, not inception5h)"
WEIGHTS = ("auto", "real", "stand-in")
#: output channels of each mixed block's branches, as in inception5h: 1x1, 3x3 bottleneck, 3x3,
#: 5x5 bottleneck, 5x5, pool reduce (the block's output concatenates 1x1, 3x3, 5x5, pool reduce)
MIXED_BLOCKS = (
    ("mixed3a", (64, 96, 128, 16, 32, 32)), ("mixed3b", (128, 128, 192, 32, 96, 64)),
    ("mixed4a", (192, 96, 204, 16, 48, 64)), ("mixed4b", (160, 112, 224, 24, 64, 64)),
    ("mixed4c", (128, 128, 256, 24, 64, 64)), ("mixed4d", (112, 144, 288, 32, 64, 64)),
    ("mixed4e", (256, 160, 320, 32, 128, 128)), ("mixed5a", (256, 160, 320, 48, 128, 128)),
    ("mixed5b", (384, 192, 384, 48, 128, 128)),
)
NUM_CLASSES = 1008


def find_inception5h(models_dir=None, download_missing=False):
    """Path of ``tensorflow_inception_graph.pb``, extracting ``inception5h.zip`` once if needed.

    Looks in ``<models_dir>/inception5h/`` (default ``models/``); when the graph is not there,
    the zip is taken from ``<models_dir>/inception5h.zip`` (downloaded first when
    ``download_missing``; otherwise a :class:`MissingFileError` naming the path and URLs).
    """
    models_dir = Path(models_dir) if models_dir is not None else models_root()
    folder = models_dir / "inception5h"
    found = _find_graph(folder)
    if found:
        return found
    try:
        archive = downloads.fetch("inception5h", models_dir, download_missing)
    except MissingFileError as exc:
        raise MissingFileError(f"{exc}; or put the extracted {GRAPH_FILE} in {folder}/, or pass "
                               "--graph PATH", field=exc.field) from None
    downloads.extract_archive(archive, folder)
    found = _find_graph(folder)
    if found is None:
        raise DataFormatError(f"{archive} holds no {GRAPH_FILE}; delete it and the folder {folder} "
                              "and download it again")
    return found


def _find_graph(folder):
    if not folder.is_dir():
        return None
    direct = folder / GRAPH_FILE
    if direct.is_file():
        return direct
    return next(iter(sorted(folder.rglob(GRAPH_FILE))), None)


def read_labels(graph_path):
    """The class names beside the graph (``imagenet_comp_graph_label_strings.txt``), or None."""
    path = Path(graph_path).with_name(LABELS_FILE)
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def load_inception5h(graph_path, name="import"):
    """Import inception5h into the current default graph; returns a :class:`graphs.ImageNetwork`.

    ``images``: placeholder [N, H, W, 3] float32, RGB 0..255, any H and W (DeepDream feeds one
    image, N = 1); the graph sees ``images - 117``.  ``layers``: the Conv2D layers by name.
    ``logits``: ``softmax2_pre_activation`` when the graph has it (the real one does).
    """
    graph_def = graphs.load_graph_def(graph_path)
    images = tf.placeholder(tf.float32, [None, None, None, 3], name="images")
    preprocessed = tf.subtract(images, IMAGENET_MEAN, name="minus_imagenet_mean")
    input_name = "input" if any(n.name == "input" for n in graph_def.node) else None
    if input_name is None:
        raise DataFormatError(f"{graph_path} has no 'input' placeholder, so it is not inception5h; "
                              "give tensorflow_inception_graph.pb from inception5h.zip")
    stand_in = any(n.name == STAND_IN_MARKER for n in graph_def.node)
    prefix = graphs.import_graph_def(graph_def, {input_name: preprocessed}, name=name, source=graph_path)
    graph = tf.get_default_graph()
    layers = graphs.conv2d_layers(graph, prefix)
    try:
        logits = graph.get_tensor_by_name(f"{prefix}{LOGITS_NAME}:0")
    except KeyError:
        logits = None
    return graphs.ImageNetwork(images=images, layers=layers, value_range=(0.0, 255.0),
                               logits=logits, class_names=read_labels(graph_path), prefix=prefix,
                               name=(f"inception5h {STAND_IN_LABEL}" if stand_in
                                     else f"inception5h graph {Path(graph_path).name}"),
                               stand_in=stand_in)


# ---------------------------------------------------------------------------------------------
# The offline stand-in


def stand_in_graph_def(seed=0):
    """A frozen GraphDef shaped and named like inception5h, with random constant weights.

    Each convolution is built as the real graph builds it: ``<name>_w`` / ``<name>_b`` constants,
    a ``<name>_pre_relu/conv`` Conv2D, the ``<name>_pre_relu`` bias add and the ``<name>`` ReLU;
    each mixed block's branches are concatenated into ``<block>``.  Pools are SAME-padded so any
    image size works (the real auxiliary heads need at least 224x224).
    """
    rng = np.random.default_rng(seed)
    graph = tf.Graph()

    def conv(x, name, size, channels, stride=1):
        fan_in = size * size * int(x.get_shape()[-1])
        kernel = rng.standard_normal((size, size, int(x.get_shape()[-1]), channels), dtype=np.float32)
        kernel *= np.float32(np.sqrt(2.0 / fan_in))  # He scaling: activations stay O(1) down the stack
        bias = (0.01 * rng.standard_normal(channels)).astype(np.float32)
        out = tf.nn.conv2d(x, tf.constant(kernel, name=f"{name}_w"), [1, stride, stride, 1], "SAME",
                           name=f"{name}_pre_relu/conv")
        return tf.nn.relu(tf.nn.bias_add(out, tf.constant(bias, name=f"{name}_b"), name=f"{name}_pre_relu"),
                          name=name)

    def pool(x, name, size=3, stride=2, op=tf.nn.max_pool):
        return op(x, [1, size, size, 1], [1, stride, stride, 1], "SAME", name=name)

    def lrn(x, name):
        return tf.nn.local_response_normalization(x, depth_radius=2, bias=1.0, alpha=1e-4, beta=0.75, name=name)

    with graph.as_default():
        tf.constant(f"{STAND_IN_LABEL}; generated by cnn_cookbook v{STAND_IN_VERSION}, seed {seed}",
                    name=STAND_IN_MARKER)
        x = tf.placeholder(tf.float32, [None, None, None, 3], name="input")
        x = lrn(pool(conv(x, "conv2d0", 7, 64, 2), "maxpool0"), "localresponsenorm0")
        x = conv(conv(x, "conv2d1", 1, 64), "conv2d2", 3, 192)
        x = pool(lrn(x, "localresponsenorm1"), "maxpool1")
        for block, (c1, c3b, c3, c5b, c5, cp) in MIXED_BLOCKS:
            if block in ("mixed4a", "mixed5a"):
                x = pool(x, "maxpool4" if block == "mixed4a" else "maxpool10")
            x = tf.concat([conv(x, f"{block}_1x1", 1, c1),
                           conv(conv(x, f"{block}_3x3_bottleneck", 1, c3b), f"{block}_3x3", 3, c3),
                           conv(conv(x, f"{block}_5x5_bottleneck", 1, c5b), f"{block}_5x5", 5, c5),
                           conv(pool(x, f"{block}_pool", stride=1), f"{block}_pool_reduce", 1, cp)],
                          axis=3, name=block)
            if block in ("mixed4a", "mixed4d"):
                head = "head0" if block == "mixed4a" else "head1"
                conv(pool(x, f"{head}_pool", 5, 3, tf.nn.avg_pool), f"{head}_bottleneck", 1, 128)
        features = tf.reduce_mean(x, axis=[1, 2], name="avgpool0")
        weights = (rng.standard_normal((1024, NUM_CLASSES), dtype=np.float32) / np.float32(32.0))
        logits = tf.nn.bias_add(tf.matmul(features, tf.constant(weights, name="softmax2_w")),
                                tf.constant(np.zeros(NUM_CLASSES, np.float32), name="softmax2_b"),
                                name=LOGITS_NAME)
        tf.nn.softmax(logits, name="softmax2")
    return graph.as_graph_def()


def write_stand_in(path, seed=0):
    """Write the stand-in graph to ``path`` (atomically, ~25 MB); returns the path."""
    return graphs.write_graph_def(stand_in_graph_def(seed), path)


def locate_inception5h(weights="auto", graph=None, models_dir=None, download_missing=False):
    """``(path, stand_in)`` of the graph a run should use.

    ``graph``: an explicit .pb (``--graph``), used as given (``stand_in`` is None: the loader
    tells).  Otherwise ``weights``: ``real`` needs inception5h (see :func:`find_inception5h`);
    ``stand-in`` uses the generated stand-in (written once into ``<models>/inception5h-standin-v1/``);
    ``auto`` uses the real graph when it or its zip is there (or ``download_missing``), else the
    stand-in.
    """
    if graph is not None:
        return Path(graph), None
    if weights not in WEIGHTS:
        raise CookbookError(f"the weights must be one of {', '.join(WEIGHTS)}, not {weights!r}", field="weights")
    models_dir = Path(models_dir) if models_dir is not None else models_root()
    real = (_find_graph(models_dir / "inception5h") is not None
            or (models_dir / downloads.remote_file("inception5h").filename).is_file())
    if weights == "real" or (weights == "auto" and (real or download_missing)):
        return find_inception5h(models_dir, download_missing), False
    path = models_dir / STAND_IN_FOLDER / GRAPH_FILE
    if not path.is_file():
        write_stand_in(path)
    return path, True
