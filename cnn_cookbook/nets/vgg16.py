"""VGG-16 from Hvass-Labs tutorial #15's ``vgg16.tfmodel`` (a serialized, frozen GraphDef).

Instead of importing the 550 MB graph (whose fc6 reshape is fixed to 224x224 inputs), the loader
reads the weights out of it and hands them to the same graph builder as VGG-19
(:class:`cnn_cookbook.nets.vgg19.ConvStack`), so the two style-transfer variants differ only in
this loader.

* The 13 convolutions are found from the graph (ops of type Conv2D, ordered along the data path
  from the ``images`` placeholder), not from hard-coded names; each must be followed by a bias
  add and a Relu, and a MaxPool after a Relu marks the end of a block.  They are named
  conv1_1 ... conv5_3 / relu1_1 ... / pool1 ... like VGG-19; Hvass's layer tensors
  ``conv3_1/conv3_1`` etc. are the ReLU outputs, here ``relu3_1``.
* Whatever preprocessing sits between ``images`` and the first convolution (the graph this file
  comes from multiplies by 255, reorders RGB to BGR and subtracts the mean) is measured by
  evaluating that part of the graph in NumPy on probe images (a loader opens no Session): it
  must be affine, and its scale says which input range the graph was built for.  The Hvass tutorial fed 0..255 pixels to ``images:0``;
  when the graph itself scales by 255 that puts the network's input 255 times outside the range
  it was trained on.  Here the pixels (always 0..255) are mapped to what the first convolution
  was trained on, and the loader reports the range the graph expects.
"""

from pathlib import Path

import numpy as np

from cnn_cookbook.errors import DataFormatError, MissingFileError
from cnn_cookbook.graphs import load_graph_def
from cnn_cookbook.nets.vgg19 import FeatureNetwork, Layer
from cnn_cookbook.tf1 import tf

VGG16_URL = "https://s3.amazonaws.com/cadl/models/vgg16.tfmodel"
#: convolutions per block in VGG-16
VGG16_BLOCKS = (2, 2, 3, 3, 3)


def _not_vgg16(path, why):
    return DataFormatError(f"{path} is not the VGG-16 graph of Hvass tutorial #15 ({why}); get "
                           f"vgg16.tfmodel from {VGG16_URL} (run with --download)")


def read_graph_def(path):
    """Parse a binary GraphDef file (:func:`cnn_cookbook.graphs.load_graph_def`) with errors that
    name vgg16.tfmodel and where to get it."""
    path = Path(path)
    try:
        return load_graph_def(path)
    except MissingFileError:
        raise MissingFileError(f"vgg16.tfmodel is not at {path}; run with --download to fetch it "
                               f"from {VGG16_URL} or place it there by hand") from None
    except DataFormatError:
        raise DataFormatError(f"{path} is not a TensorFlow GraphDef; it may be truncated: delete it "
                              f"and download {VGG16_URL} again") from None


def _data_input(name):
    """Node name of a NodeDef input ('^ctrl' and ':1' suffixes removed)."""
    return name.lstrip("^").split(":")[0]


def _const_value(nodes, name, path):
    """The NumPy value behind ``name``, following Identity ops to a Const."""
    node = nodes.get(_data_input(name))
    while node is not None and node.op == "Identity":
        node = nodes.get(_data_input(node.input[0]))
    if node is None or node.op != "Const":
        raise _not_vgg16(path, f"{name} is not a constant (is the graph frozen?)")
    return tf.make_ndarray(node.attr["value"].tensor).astype(np.float32)


def _consumers(graph_def):
    consumers = {}
    for node in graph_def.node:
        for name in node.input:
            if not name.startswith("^"):
                consumers.setdefault(_data_input(name), []).append(node)
    return consumers


def _follow(consumers, name, ops):
    """The first consumer of ``name`` whose op is in ``ops``, or None."""
    for node in consumers.get(name, []):
        if node.op in ops:
            return node
    return None


def _conv_chain(graph_def, path, input_name):
    """Conv2D nodes in data-path order from ``input_name``, each with its bias node and Relu."""
    consumers = _consumers(graph_def)
    chain, frontier, seen = [], [input_name], set()
    while frontier:  # breadth first along the (single) data path; VGG has no branches
        name = frontier.pop(0)
        if name in seen:
            continue
        seen.add(name)
        for node in consumers.get(name, []):
            if node.op == "Conv2D" and _data_input(node.input[0]) == name:
                chain.append(node)
            if node.op not in ("Const",):
                frontier.append(node.name)
    if len(chain) != sum(VGG16_BLOCKS):
        raise _not_vgg16(path, f"{len(chain)} Conv2D ops on the path from '{input_name}', "
                               f"VGG-16 has {sum(VGG16_BLOCKS)}")
    layers = []
    for conv in chain:
        bias_node = _follow(consumers, conv.name, ("BiasAdd", "Add", "AddV2"))
        relu = bias_node and _follow(consumers, bias_node.name, ("Relu",))
        if relu is None:
            raise _not_vgg16(path, f"convolution {conv.name} is not followed by a bias and a Relu")
        bias_input = [i for i in bias_node.input if _data_input(i) != conv.name][0]
        pool = _follow(consumers, relu.name, ("MaxPool", "AvgPool"))
        layers.append((conv, bias_input, pool is not None))
    return layers


#: NumPy forms of the ops a graph may put between 'images' and the first convolution
#: (the published file: Mul by 255, Split into channels, Sub of the mean, Concat as BGR)
_ELEMENTWISE = {"Mul": np.multiply, "Sub": np.subtract, "Add": np.add, "AddV2": np.add,
                "BiasAdd": np.add, "RealDiv": np.divide, "Div": np.divide}


def _evaluate(nodes, tensor, feeds, path):
    """The NumPy value of ``tensor`` ('node' or 'node:k'), computed from the file's constants
    and ``feeds`` (placeholder name -> array), so that reading the file opens no Session."""
    name, _, index = tensor.lstrip("^").partition(":")
    node = nodes.get(name)
    if node is None:
        raise _not_vgg16(path, f"{name} is not in the graph")
    if node.op == "Placeholder" and name in feeds:
        return feeds[name]
    inputs = [i for i in node.input if not i.startswith("^")]

    def value(i):
        return _evaluate(nodes, inputs[i], feeds, path)

    if node.op == "Const":
        return _const_value(nodes, name, path)
    if node.op in ("Identity", "StopGradient"):
        return value(0)
    if node.op in _ELEMENTWISE:
        return _ELEMENTWISE[node.op](value(0), value(1)).astype(np.float32)
    if node.op == "Neg":
        return -value(0)
    if node.op in ("Split", "SplitV"):
        if node.op == "Split":
            axis, whole, parts = int(value(0)), value(1), int(node.attr["num_split"].i)
        else:
            whole, sizes, axis = value(0), value(1), int(value(2))
            parts = np.cumsum(sizes)[:-1]
        return np.split(whole, parts, axis=axis)[int(index or 0)]
    if node.op in ("Concat", "ConcatV2"):  # the axis is the first input of Concat, the last of V2
        axis, values = (value(0), inputs[1:]) if node.op == "Concat" else (value(-1), inputs[:-1])
        return np.concatenate([_evaluate(nodes, v, feeds, path) for v in values], axis=int(axis))
    raise _not_vgg16(path, f"the operations between 'images' and the first convolution include "
                           f"{node.op} ({name}), which is not an affine map of the pixels")


def _probe_preprocessing(nodes, first_conv_input, image_shape, path):
    """Fit out = pixels @ matrix + offset to the ops before the first convolution, evaluated in
    NumPy on probe images (black, one per colour, random)."""
    height, width = image_shape
    rng = np.random.default_rng(0)
    probes = [np.zeros((1, height, width, 3), np.float32)]
    probes += [np.broadcast_to(np.eye(3, dtype=np.float32)[c], (1, height, width, 3)).copy()
               for c in range(3)]
    probes.append(rng.uniform(0, 1, (1, height, width, 3)).astype(np.float32))
    outputs = [np.broadcast_to(_evaluate(nodes, first_conv_input, {"images": p}, path), p.shape)
               for p in probes]
    offset = outputs[0][0, 0, 0]
    matrix = np.stack([outputs[1 + c][0, 0, 0] - offset for c in range(3)])
    predicted = probes[-1] @ matrix + offset
    affine = np.allclose(predicted, outputs[-1], rtol=1e-4, atol=1e-3 * max(1.0, np.abs(matrix).max()))
    return matrix.astype(np.float64), offset.astype(np.float64), affine


def load_vgg16_graph(path):
    """Read ``vgg16.tfmodel`` into a :class:`FeatureNetwork` with VGG-19-style layer names.

    Layers are conv1_1, relu1_1, conv1_2, relu1_2, pool1, ..., conv5_3, relu5_3 (pool5 and the
    fully connected layers are not needed for style transfer and are skipped).
    """
    graph_def = read_graph_def(path)
    nodes = {node.name: node for node in graph_def.node}
    images = nodes.get("images")
    if images is None or images.op != "Placeholder":
        raise _not_vgg16(path, "no 'images' placeholder")
    chain = _conv_chain(graph_def, path, "images")

    shape = images.attr["shape"].shape
    dims = [d.size for d in shape.dim] if not shape.unknown_rank else []
    probe_size = tuple(dims[1:3]) if len(dims) == 4 and min(dims[1:3]) > 0 else (8, 8)
    matrix, offset, affine = _probe_preprocessing(nodes, chain[0][0].input[0], probe_size, path)
    if not affine:
        raise _not_vgg16(path, "the operations between 'images' and the first convolution are "
                               "not an affine map of the pixels")
    # Caffe's VGG was trained on 0..255 pixels minus the mean: a graph whose own preprocessing
    # multiplies by ~255 was built for 0..1 inputs.  Divide that scale out so our 0..255 pixels
    # reach the first convolution on the trained scale.
    graph_scale = float(np.abs(matrix).max())
    input_scale = 255.0 if graph_scale > 16 else 1.0
    matrix = matrix / input_scale
    expects = "0..1" if input_scale == 255.0 else "0..255"

    layers, block, index = [], 1, 1
    for conv, bias_input, ends_block in chain:
        kernel = _const_value(nodes, conv.input[1], path)
        bias = _const_value(nodes, bias_input, path).reshape(-1)
        if kernel.ndim != 4 or kernel.shape[:2] != (3, 3) or bias.size != kernel.shape[3]:
            raise _not_vgg16(path, f"{conv.name} has kernel {kernel.shape}, bias {bias.shape}")
        layers.append(Layer(f"conv{block}_{index}", "conv", kernel, bias))
        layers.append(Layer(f"relu{block}_{index}", "relu"))
        if ends_block:
            if index != VGG16_BLOCKS[block - 1]:
                raise _not_vgg16(path, f"block {block} has {index} convolutions, VGG-16 has "
                                       f"{VGG16_BLOCKS[block - 1]}")
            layers.append(Layer(f"pool{block}", "pool"))
            block, index = block + 1, 1
        else:
            index += 1
    if layers[-1].kind == "pool":
        layers.pop()  # pool5: not used for style, and ConvStack has no head for this network
    if [l.name for l in layers if l.kind == "conv"][-1] != "conv5_3":
        raise _not_vgg16(path, "the pooling layers do not split the convolutions into VGG-16's "
                               "blocks of 2, 2, 3, 3, 3")
    network = FeatureNetwork(
        name="vgg16", layers=tuple(layers), input_matrix=matrix.astype(np.float32),
        input_offset=offset.astype(np.float32), source=str(path),
        notes=(f"the graph expects 'images' in {expects} (its own preprocessing scales by "
               f"{graph_scale:.4g}); pixels are mapped accordingly",))
    return network
