"""inception5h (GoogLeNet, ``tensorflow_inception_graph.pb``): the DeepDream network.

The frozen graph comes in ``inception5h.zip`` with ``imagenet_comp_graph_label_strings.txt``
(one label a line).  Its ``input`` placeholder takes NHWC float images of any size from which
the caller has subtracted the ImageNet mean 117; :func:`load_inception5h` maps it to a
placeholder of raw pixel values 0..255 minus 117, so users feed plain images.  Its layers are
listed from the ``Conv2D`` ops (59 layers, 7548 channels in the real graph), named as the
DeepDream notebook names them (``conv2d0_pre_relu``, ``mixed4d_3x3_bottleneck_pre_relu``, ...).

Files: ``models/inception5h/`` (see :func:`find_inception5h`); ``--graph PATH`` in the recipes
points at any other copy.
"""

from pathlib import Path

from cnn_cookbook import graphs
from cnn_cookbook.datasets import download
from cnn_cookbook.errors import DataFormatError, MissingFileError
from cnn_cookbook.paths import models_root
from cnn_cookbook.tf1 import tf

GRAPH_FILE = "tensorflow_inception_graph.pb"
LABELS_FILE = "imagenet_comp_graph_label_strings.txt"
#: the mean pixel value the graph was trained with (one value for R, G and B)
IMAGENET_MEAN = 117.0
#: the logits of the main classifier head (softmax2 is its softmax)
LOGITS_NAME = "softmax2_pre_activation"


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
        archive = download.fetch("inception5h", models_dir, download_missing)
    except MissingFileError as exc:
        raise MissingFileError(f"{exc}; or put the extracted {GRAPH_FILE} in {folder}/, or pass "
                               "--graph PATH") from None
    download.extract_archive(archive, folder)
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
    prefix = graphs.import_graph_def(graph_def, {input_name: preprocessed}, name=name, source=graph_path)
    graph = tf.get_default_graph()
    layers = graphs.conv2d_layers(graph, prefix)
    try:
        logits = graph.get_tensor_by_name(f"{prefix}{LOGITS_NAME}:0")
    except KeyError:
        logits = None
    return graphs.ImageNetwork(images=images, layers=layers, value_range=(0.0, 255.0),
                               logits=logits, class_names=read_labels(graph_path), prefix=prefix,
                               name=f"inception5h graph {Path(graph_path).name}")
