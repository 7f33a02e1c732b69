"""Frozen GraphDef files (.pb): load them with clear errors, import them, and write stand-ins.

A frozen graph (inception5h's ``tensorflow_inception_graph.pb``, Inception v3's
``classify_image_graph_def.pb``, ``vgg16.tfmodel``) is a serialized ``tf.GraphDef`` with the
weights stored as constants.  :func:`load_graph_def` reads one in binary mode and turns the two
ways this goes wrong into one-line errors: a missing file (:class:`MissingFileError`, the same
wording as :func:`cnn_cookbook.io.downloads.fetch`) and a file that is not a GraphDef
(:class:`DataFormatError`).

:func:`make_stand_in_graph_def` writes a small graph with chosen tensor names and random
weights, so tests and benchmarks can exercise code written for a real graph without it.
"""

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnn_cookbook.errors import CookbookError, DataFormatError, MissingFileError
from cnn_cookbook.fileio import write_bytes_atomic
from cnn_cookbook.tf1 import is_registered_op, tf


def load_graph_def(path):
    """Read a serialized ``tf.GraphDef`` from ``path``; returns the GraphDef (not imported).

    Raises :class:`MissingFileError` when the file is absent and :class:`DataFormatError` when it
    does not parse as a GraphDef (a text file, an HTML error page saved by a failed download, a
    truncated file, a zip that was not extracted).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"graph file {path} does not exist; check the path "
                               f"(looked for {path.resolve()})")
    data = path.read_bytes()
    graph_def = tf.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception:  # protobuf raises DecodeError, or RuntimeWarning/ValueError on some builds
        graph_def = None
    # An empty or non-protobuf file may still "parse" into an empty GraphDef: that is no graph either.
    if graph_def is None or not graph_def.node:
        hint = " (it is a zip archive: extract it first)" if data[:2] == b"PK" else ""
        raise DataFormatError(f"{path} is not a frozen TensorFlow GraphDef{hint}; download it "
                              "again or give the right .pb file")
    check_graph_def(graph_def, path)
    return graph_def


def check_graph_def(graph_def, path):
    """Refuse a GraphDef that parses but cannot be imported, naming the op or node and ``path``.

    Two things break ``tf.import_graph_def`` after a successful parse: an op this TensorFlow does
    not have (a graph from a newer release, or with custom ops) and an input naming a node that
    is not in the graph (a graph cut or edited by hand).  Both are found from the nodes alone,
    without building anything.
    """
    missing = {op for op in {node.op for node in graph_def.node} if not is_registered_op(op)}
    unknown = {}
    for node in graph_def.node:
        if node.op in missing:
            unknown.setdefault(node.op, node.name)
    if unknown:
        listed = ", ".join(f"{op} (node {name!r})" for op, name in list(unknown.items())[:3])
        raise DataFormatError(f"{path} uses op(s) this TensorFlow ({tf.VERSION}) does not have: {listed}; "
                              "the graph was made for another TensorFlow or needs custom ops")
    names = {node.name for node in graph_def.node}
    for node in graph_def.node:
        for source in node.input:
            base = source.lstrip("^").split(":")[0]
            if base not in names:
                raise DataFormatError(f"{path}: node {node.name!r} takes its input from {source!r}, which "
                                      "is not in the graph; the file is damaged or was cut: download it again")


def import_graph_def(graph_def, input_map=None, name="import", source=None):
    """Import ``graph_def`` into the current default graph under ``name``/ (ops as ``name/<op>``);
    ``source`` (the file it came from) is named in the one-line error if the import fails.

    Returns the name scope prefix (``"import/"``), so tensors are found as
    ``graph.get_tensor_by_name(prefix + "conv2d0_pre_relu:0")``.
    """
    try:
        tf.import_graph_def(graph_def, input_map=input_map or {}, name=name)
    except (ValueError, KeyError, TypeError, tf.errors.OpError) as exc:
        # what check_graph_def cannot see: a shape or type clash, an input_map naming no tensor
        reason = " ".join(str(exc).split())[:300]
        raise DataFormatError(f"the graph {source or 'given'} cannot be imported ({type(exc).__name__}: "
                              f"{reason})") from None
    return f"{name}/" if name else ""


def node_names(graph_def, op_type=None):
    """Names of the nodes of ``graph_def`` (only those of ``op_type`` when given), in graph order."""
    return [n.name for n in graph_def.node if op_type is None or n.op == op_type]


def make_stand_in_graph_def(layers, input_name="input", input_channels=3, seed=0):
    """A frozen GraphDef of stacked convolutions named like inception5h, with random weights.

    ``layers`` lists ``(name, channels)`` or ``(name, channels, kernel_size, stride)`` (default
    3x3, stride 1, SAME).  Each layer is built as inception5h builds its layers: a ``Conv2D`` op
    ``<name>/conv``, a bias add named ``<name>`` (so ``<name>:0`` is the pre-ReLU output) and a
    ReLU, named ``<name>`` without its ``_pre_relu`` suffix (else ``<name>/relu``), which feeds
    the next layer.  The input is a float32 placeholder ``input_name`` of shape [None, None,
    None, ``input_channels``] (NHWC, any image size).  Weights are He-scaled normal constants,
    so the graph is frozen like the real one.
    """
    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, None, None, input_channels], name=input_name)
        channels_in = input_channels
        for spec in layers:
            name, channels, size, stride = (tuple(spec) + (3, 1))[:4]
            scale = np.sqrt(2.0 / (size * size * channels_in))
            kernel = rng.normal(0, scale, (size, size, channels_in, channels)).astype(np.float32)
            bias = rng.normal(0, 0.01, channels).astype(np.float32)
            conv = tf.nn.conv2d(x, tf.constant(kernel, name=f"{name}_w"), [1, stride, stride, 1], "SAME",
                                name=f"{name}/conv")
            pre_relu = tf.nn.bias_add(conv, tf.constant(bias, name=f"{name}_b"), name=name)
            relu_name = name[:-len("_pre_relu")] if name.endswith("_pre_relu") else f"{name}/relu"
            x = tf.nn.relu(pre_relu, name=relu_name)
            channels_in = channels
    return graph.as_graph_def()


def write_graph_def(graph_def, path):
    """Serialize ``graph_def`` to ``path`` (binary .pb), atomically; returns the path."""
    return write_bytes_atomic(path, graph_def.SerializeToString())


# ---------------------------------------------------------------------------------------------
# A loaded network seen from the input side (what DeepDream and the visualisations need)


@dataclass
class ImageNetwork:
    """A network in the current graph, ready to be looked into by gradient ascent on its input.

    ``images`` is the float placeholder [N, H, W, C] (NHWC) the renderers feed, with pixel values
    in ``value_range`` (0..255 for the ImageNet graphs, 0..1 for the MNIST/CIFAR checkpoints);
    any preprocessing (inception5h's minus 117) happens inside the graph.  ``image_size`` is
    (H, W) when the network needs one size, None when it takes any.  ``batch_size`` is None when
    any batch works, 1 when the graph was frozen for single images.  ``layers`` maps the names
    users pick (``--layer``) to output tensors [N, h, w, channels]; ``prefix`` is where an
    imported graph's ops live, so other tensors can be named too.
    """

    images: object
    layers: dict
    value_range: tuple = (0.0, 255.0)
    image_size: tuple = None
    batch_size: int = None
    logits: object = None
    class_names: list = None
    prefix: str = ""
    name: str = "network"
    restore: object = None  # callable(session) loading weights, None for frozen graphs
    stand_in: bool = False  # a generated graph with random weights (say STAND-IN in every output)
    extra: dict = field(default_factory=dict)

    @property
    def graph(self):
        return self.images.graph

    def channels(self, layer):
        """Number of channels of ``layer`` (its last dimension)."""
        return int(self.tensor(layer).get_shape()[-1])

    def tensor(self, name):
        """The output tensor of layer ``name`` ([N, h, w, C]); any op of the graph may be named.

        An unknown name raises a :class:`CookbookError` listing the closest layer names.
        """
        if name in self.layers:
            return self.layers[name]
        base = name[:-2] if name.endswith(":0") else name
        try:
            return self.graph.get_tensor_by_name(f"{self.prefix}{base}:0")
        except (KeyError, ValueError):
            pass
        candidates = list(self.layers) or [op.name[len(self.prefix):] for op in self.graph.get_operations()
                                           if op.name.startswith(self.prefix)]
        close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.5)
        hint = f"close matches: {', '.join(close)}" if close else "list the layers to see their names"
        raise CookbookError(f"{self.name} has no layer {name!r}; {hint}", field="layer")

    def check_channel(self, layer, channel):
        """Raise a clear error when ``channel`` is not a channel of ``layer``."""
        count = self.channels(layer)
        if not 0 <= channel < count:
            raise CookbookError(f"channel {channel} is out of range for layer {layer!r}, which has "
                                f"{count} channels (0..{count - 1})", field="channel")
        return channel

    def describe_layers(self):
        """``[(name, channels), ...]`` of the listed layers, in graph order."""
        return [(name, int(t.get_shape()[-1])) for name, t in self.layers.items()]


def conv2d_layers(graph, prefix=""):
    """Layers of an imported frozen graph: one per ``Conv2D`` op, as ``{name: output tensor}``.

    inception5h names a convolution ``<layer>/conv`` and its bias add ``<layer>`` (the
    ``*_pre_relu`` tensors DeepDream maximises); where that bias add exists the layer is listed
    under ``<layer>`` with the bias add's output, else under the Conv2D op's own name.
    """
    layers = {}
    for op in graph.get_operations():
        if op.type != "Conv2D" or not op.name.startswith(prefix):
            continue
        name = op.name[len(prefix):]
        tensor = op.outputs[0]
        if name.endswith("/conv"):
            try:
                tensor = graph.get_tensor_by_name(f"{prefix}{name[:-len('/conv')]}:0")
                name = name[:-len("/conv")]
            except KeyError:
                pass
        layers[name] = tensor
    return layers
