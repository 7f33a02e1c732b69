"""Inception v3 as a frozen graph (``classify_image_graph_def.pb`` from inception-2015-12-05.tgz).

What the chapter needs from it (Hvass #07/#08, TensorFlow's retrain.py):

- :func:`locate_inception_v3` finds the real graph under ``models/inception/`` (``--download``
  fetches and unpacks the archive), or, offline, a **stand-in** written by :func:`write_stand_in`;
- :func:`classify_image` runs a JPEG through the graph and returns the top-k human-readable
  labels (:func:`load_imagenet_labels`);
- :func:`build_transfer` + :func:`transfer_values` compute the 2048-d ``pool_3``
  transfer values (bottlenecks) for many images;
- :func:`inception_v3_network` (and :func:`load_inception_v3` for a file) is the one network
  view of the graph for gradient work (the adversarial images of Hvass #11, the activation
  maximisation of Hvass #13): a :class:`cnn_cookbook.graphs.ImageNetwork` fed at the resized
  image, with :func:`resized_image` giving a file's resized version.

Tensor names (formats.md): JPEG bytes go to ``DecodeJpeg/contents:0`` (or a decoded uint8 image
to ``DecodeJpeg:0``); the graph casts, adds a batch axis and resizes to 299x299 at
``ResizeBilinear:0`` [1, 299, 299, 3]; ``pool_3:0`` [1, 1, 1, 2048] and ``pool_3/_reshape:0``
[1, 2048] are the transfer values; ``softmax:0`` [1, 1008] the ImageNet probabilities.

Batching.  The released graph is built for a batch of one (TensorFlow issue #554): its
``pool_3/_reshape`` and softmax have the batch size 1 baked in, and ``ResizeBilinear:0`` has the
static shape [1, 299, 299, 3], so it cannot be fed a batch.  :func:`build_transfer` has
three ways to get many transfer values:

- ``batch``: import the graph a second time with ``ResizeBilinear:0`` mapped to a
  [None, 299, 299, 3] tensor and read ``pool_3:0`` (the convolutions take any batch size), one
  ``Session.run`` per batch;
- ``map``: import it inside ``tf.map_fn`` so each image goes through an unchanged batch-1 copy,
  still one ``Session.run`` per batch (for graphs where ``batch`` gives wrong values or fails);
- ``single``: the tutorials' way (TensorFlow's retrain.py, Hvass #08), one ``Session.run`` per image fed at ``DecodeJpeg:0``.

In ``batch`` and ``map`` the resize to 299x299 is done by a ``ResizeBilinear`` op of ours with the
graph's own ``align_corners`` setting, on a stack of same-size images, so the values equal the
single-image path up to float rounding.  :func:`check_batch_mode` verifies that on two random
images before a run trusts ``batch``/``map`` (``auto`` falls back to the next mode).

The stand-in has the same input/output tensor names and shapes (including the batch-1 reshape),
random weights (a strided convolution, pooling and a 1x1 convolution to 2048 features kept on a
2x2 grid, so classes that differ in colour, shape or layout are linearly separable), and a
constant node ``cnn_cookbook_standin``.  Everything that uses it says STAND-IN in its output.
"""

import hashlib
import re
import time
from collections import namedtuple
from pathlib import Path

import numpy as np

from cnn_cookbook import graphs
from cnn_cookbook.errors import CookbookError, DataFormatError, MissingFileError, first_line
from cnn_cookbook.fileio import write_bytes_atomic
from cnn_cookbook.io import downloads
from cnn_cookbook.io.images import encode_jpeg, read_image_rgb
from cnn_cookbook.nets.layers import dense
from cnn_cookbook.paths import models_root
from cnn_cookbook.tf1 import tf

GRAPH_FILENAME = "classify_image_graph_def.pb"
LABEL_MAP_FILENAME = "imagenet_2012_challenge_label_map_proto.pbtxt"
SYNSET_FILENAME = "imagenet_synset_to_human_label_map.txt"
EXAMPLE_IMAGE_FILENAME = "cropped_panda.jpg"
REAL_FOLDER = "inception"
STAND_IN_VERSION = 1
STAND_IN_FOLDER = f"inception-standin-v{STAND_IN_VERSION}"
STAND_IN_MARKER = "cnn_cookbook_standin"
STAND_IN_LABEL = "STAND-IN (random weights, not Inception v3)"

JPEG_INPUT = "DecodeJpeg/contents:0"
DECODED_INPUT = "DecodeJpeg:0"
RESIZED = "ResizeBilinear:0"
BOTTLENECK = "pool_3:0"
BOTTLENECK_FLAT = "pool_3/_reshape:0"
SOFTMAX = "softmax:0"
LOGITS = "softmax/logits:0"
INPUT_SIZE = 299
BOTTLENECK_SIZE = 2048
NUM_OUTPUTS = 1008
MODES = ("auto", "batch", "map", "single")

InceptionFiles = namedtuple("InceptionFiles", [
    "graph_path",     # Path of the frozen GraphDef
    "stand_in",       # True for the generated stand-in
    "label_map",      # Path of the node-id -> synset file, or None
    "synset_map",     # Path of the synset -> human label file, or None
    "example_image",  # cropped_panda.jpg when the real archive is unpacked, else None
])


def model_name(stand_in):
    """The name recorded in metrics and printed in outputs."""
    return "stand-in" if stand_in else "inception_v3"


def is_stand_in(graph_def):
    return any(node.name == STAND_IN_MARKER for node in graph_def.node)


def graph_fingerprint(path):
    """First 16 hex digits of the SHA-256 of a graph file (names its bottleneck cache)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Finding the model


def _beside(path, name):
    candidate = Path(path).parent / name
    return candidate if candidate.is_file() else None


def find_inception_v3(models_dir=None, download_missing=False):
    """Path of the real ``classify_image_graph_def.pb`` (``<models>/inception/``, extracted once
    from inception-2015-12-05.tgz, downloaded when asked); never the stand-in."""
    return locate_inception_v3("inception_v3", models_dir=models_dir, download=download_missing).graph_path


def locate_inception_v3(model="auto", graph_file=None, models_dir=None, download=False):
    """Find (or fetch, or generate) the frozen graph; returns :class:`InceptionFiles`.

    ``graph_file``: an explicit .pb path (must exist).  Otherwise ``model``: ``inception_v3`` needs
    ``<models>/inception/classify_image_graph_def.pb`` (``download`` fetches and unpacks
    inception-2015-12-05.tgz; without it the error names the path and URL); ``stand-in`` uses
    the generated stand-in; ``auto`` uses the real graph when present or downloadable, else the
    stand-in.
    """
    if graph_file is not None:
        path = Path(graph_file)
        if not path.is_file():
            raise MissingFileError(f"graph file {path} does not exist; check the path "
                                   f"(looked for {path.resolve()})", field="graph")
        return InceptionFiles(path, None, _beside(path, LABEL_MAP_FILENAME), _beside(path, SYNSET_FILENAME),
                              _beside(path, EXAMPLE_IMAGE_FILENAME))
    if model not in ("auto", "inception_v3", "stand-in"):
        raise CookbookError(f"the model must be auto, inception_v3 or stand-in, not {model!r}", field="model")
    models_dir = Path(models_dir) if models_dir is not None else models_root()
    real_dir = models_dir / REAL_FOLDER
    real_graph = real_dir / GRAPH_FILENAME
    if model == "inception_v3" or (model == "auto" and (real_graph.is_file() or download)):
        if not real_graph.is_file():
            try:
                archive = downloads.fetch("inception_v3", models_dir, download)
            except MissingFileError as exc:
                raise MissingFileError(f"Inception v3 graph {real_graph} not found: {exc}", field=exc.field) from None
            downloads.extract_archive(archive, real_dir)
            if not real_graph.is_file():
                raise DataFormatError(f"{archive} did not contain {GRAPH_FILENAME}; delete {archive} and "
                                      f"{real_dir} and download again")
        return InceptionFiles(real_graph, False, _beside(real_graph, LABEL_MAP_FILENAME),
                              _beside(real_graph, SYNSET_FILENAME), _beside(real_graph, EXAMPLE_IMAGE_FILENAME))
    stand_in = models_dir / STAND_IN_FOLDER / GRAPH_FILENAME
    if not stand_in.is_file():
        write_stand_in(stand_in)
    return InceptionFiles(stand_in, True, None, None, None)


def load_inception_graph_def(path):
    """Read a frozen graph and check it has the tensors of Inception v3; returns the GraphDef."""
    graph_def = graphs.load_graph_def(path)
    names = {node.name for node in graph_def.node}
    needed = [t.split(":")[0] for t in (JPEG_INPUT, DECODED_INPUT, RESIZED, BOTTLENECK, BOTTLENECK_FLAT)]
    missing = [n for n in needed if n not in names]
    if missing:
        raise DataFormatError(f"{path} is a GraphDef but not Inception v3: it has no node "
                              f"{', '.join(missing)}; give classify_image_graph_def.pb from "
                              "inception-2015-12-05.tgz (or a graph exported by 'retrain')")
    return graph_def


# ---------------------------------------------------------------------------------------------
# The stand-in


def stand_in_graph_def(seed=0):
    """A GraphDef with Inception v3's tensor names and shapes and random constant weights."""
    rng = np.random.default_rng(seed)

    def const(shape, scale, name):
        return tf.constant(rng.normal(0.0, scale, shape).astype(np.float32), name=name)

    def conv(x, name, size, channels, stride):
        fan_in = size * size * x.get_shape().as_list()[-1]
        kernel = const([size, size, x.get_shape().as_list()[-1], channels], np.sqrt(2.0 / fan_in), f"{name}/weights")
        bias = const([channels], 0.01, f"{name}/biases")
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, [1, stride, stride, 1], "SAME"), bias), name=name)

    graph = tf.Graph()
    with graph.as_default():
        tf.constant(f"{STAND_IN_LABEL}; generated by cnn_cookbook v{STAND_IN_VERSION}, seed {seed}",
                    name=STAND_IN_MARKER)
        contents = tf.constant(encode_jpeg(np.full((8, 8, 3), 128, np.uint8)), name="DecodeJpeg/contents")
        decoded = tf.image.decode_jpeg(contents, channels=3, name="DecodeJpeg")
        image = tf.expand_dims(tf.cast(decoded, tf.float32, name="Cast"), 0, name="ExpandDims")
        resized = tf.image.resize_bilinear(image, tf.constant([INPUT_SIZE, INPUT_SIZE], name="ResizeBilinear/size"),
                                           align_corners=False, name="ResizeBilinear")
        # the real graph scales pixels to [-1, 1] the same way: (x - 128) / 128
        x = tf.multiply(tf.subtract(resized, 128.0, name="Sub"), 1.0 / 128.0, name="Mul")
        x = conv(x, "standin_conv0", 8, 32, 4)                                    # 75x75x32
        x = tf.nn.max_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME")                # 38x38x32
        x = conv(x, "standin_conv1", 3, 128, 2)                                   # 19x19x128
        x = conv(x, "standin_conv2", 1, BOTTLENECK_SIZE // 4, 1)                   # 19x19x512
        grid = tf.nn.avg_pool(x, [1, 10, 10, 1], [1, 9, 9, 1], "VALID")          # 2x2x512
        pool = tf.reshape(grid, [-1, 1, 1, BOTTLENECK_SIZE], name="pool_3")
        flat = tf.reshape(pool, [1, BOTTLENECK_SIZE], name="pool_3/_reshape")  # batch 1, as the real one
        weights = const([BOTTLENECK_SIZE, NUM_OUTPUTS], 0.02, "softmax/weights")
        biases = const([NUM_OUTPUTS], 0.0, "softmax/biases")
        logits = tf.nn.bias_add(tf.matmul(flat, weights), biases, name="softmax/logits")
        tf.nn.softmax(logits, name="softmax")
    return graph.as_graph_def()


def write_stand_in(path, seed=0):
    """Write the stand-in graph to ``path`` (atomically); returns the path."""
    return write_bytes_atomic(path, stand_in_graph_def(seed).SerializeToString())


# ---------------------------------------------------------------------------------------------
# Labels


def load_imagenet_labels(label_map_path, synset_path):
    """dict node id (int, 1..1000) -> human-readable label, from the two files in the archive."""
    synset_to_human = {}
    for line in Path(synset_path).read_text(encoding="utf-8").splitlines():
        parts = line.split("\t", 1)
        if len(parts) == 2:
            synset_to_human[parts[0].strip()] = parts[1].strip()
    node_to_synset = dict(re.findall(r"target_class:\s*(\d+)\s*target_class_string:\s*\"(n\d+)\"",
                                     Path(label_map_path).read_text(encoding="utf-8")))
    if not node_to_synset or not synset_to_human:
        raise DataFormatError(f"{label_map_path} / {synset_path} hold no labels; unpack "
                              "inception-2015-12-05.tgz again")
    return {int(node): synset_to_human.get(synset, synset) for node, synset in node_to_synset.items()}


def label_for(node_id, labels, stand_in):
    """Text for one softmax output; ids 0 and 1001-1007 have no ImageNet class (background/unused)."""
    if stand_in:
        return f"stand-in output {node_id} (no meaning)"
    if labels is None:
        return f"class id {node_id} (label files not found beside the graph)"
    return labels.get(node_id, f"class id {node_id} (no ImageNet label)")


# ---------------------------------------------------------------------------------------------
# Running the graph


def import_inception(graph_def):
    """Import ``graph_def`` with its own names (``DecodeJpeg:0`` ...) into the default graph."""
    tf.import_graph_def(graph_def, name="")


def _is_jpeg(data):
    return data[:3] == b"\xff\xd8\xff"


def image_feed(graph, image_path, prefix=""):
    """Feed dict for one image file: JPEG bytes at DecodeJpeg/contents, other formats decoded.

    ``prefix``: where the graph was imported (``"import/"``; empty for its own names).
    """
    path = Path(image_path)
    decoded = read_image_rgb(path)  # a missing, truncated or oversized file is one line here, not in TF
    data = path.read_bytes()
    if _is_jpeg(data):
        return {graph.get_tensor_by_name(prefix + JPEG_INPUT): data}
    return {graph.get_tensor_by_name(prefix + DECODED_INPUT): decoded}


Prediction = namedtuple("Prediction", ["node_id", "label", "score"])


def classify_image(session, image_path, top_k=10, labels=None, stand_in=False):
    """Top-k ImageNet predictions for one image file: list of :class:`Prediction`, best first.

    The graph must be imported (:func:`import_inception`) into ``session.graph``.  Scores are
    softmax probabilities 0..1.
    """
    graph = session.graph
    try:
        probabilities = session.run(graph.get_tensor_by_name(SOFTMAX), image_feed(graph, image_path))
    except tf.errors.InvalidArgumentError as exc:
        raise CookbookError(f"cannot classify {image_path}: {first_line(exc)}") from None
    probabilities = np.squeeze(probabilities)
    order = np.argsort(probabilities)[::-1][:top_k]
    return [Prediction(int(i), label_for(int(i), labels, stand_in), float(probabilities[i])) for i in order]


# ---------------------------------------------------------------------------------------------
# The network view for gradients on the input (Hvass #11 adversarial images, Hvass #13)


def inception_v3_network(graph_def, name="Inception v3", prefix="import", source=None):
    """Import Inception v3's frozen graph (or its stand-in) into the default graph under ``prefix``,
    as a :class:`cnn_cookbook.graphs.ImageNetwork` seen from the resized image.

    ``images``: a float32 placeholder [1, 299, 299, 3], RGB 0..255, mapped in place of
    ``ResizeBilinear:0``, so gradients are taken with respect to the resized image as Hvass #11
    and #13 take them (the graph normalises internally; it was frozen for one image, hence
    batch 1).  The graph's own decode and resize stay in place for :func:`resized_image`.
    ``layers``: its Conv2D ops by op name (``conv/Conv2D``, ..., ``mixed_10/tower_2/conv/Conv2D``);
    ``logits``: ``softmax/logits`` (None in a graph without it).  ``source``: the file, for errors.
    """
    names = set(graphs.node_names(graph_def))
    if RESIZED[:-2] not in names:
        raise DataFormatError(f"{source or 'the graph'} has no {RESIZED[:-2]!r} node, so it is not Inception v3's "
                              f"{GRAPH_FILENAME}")
    images = tf.placeholder(tf.float32, [1, INPUT_SIZE, INPUT_SIZE, 3], name="images")
    prefix = graphs.import_graph_def(graph_def, {RESIZED: images}, name=prefix, source=source)
    graph = tf.get_default_graph()
    logits = graph.get_tensor_by_name(prefix + LOGITS) if LOGITS[:-2] in names else None
    return graphs.ImageNetwork(images=images, layers=graphs.conv2d_layers(graph, prefix), value_range=(0.0, 255.0),
                               image_size=(INPUT_SIZE, INPUT_SIZE), batch_size=1, logits=logits, prefix=prefix,
                               name=name, stand_in=is_stand_in(graph_def))


def load_inception_v3(graph_path, name="import"):
    """:func:`inception_v3_network` of the graph file ``graph_path``, imported under ``name``/."""
    return inception_v3_network(graphs.load_graph_def(graph_path), f"Inception v3 graph {graph_path}", prefix=name,
                                source=graph_path)


def resized_image(session, network, image_path):
    """One image file decoded and resized by the graph's own ops, ready for ``network.images``:
    float32 [1, 299, 299, 3], 0..255.  ``network``: an :func:`inception_v3_network` in ``session.graph``."""
    graph = session.graph
    return session.run(graph.get_tensor_by_name(network.prefix + RESIZED),
                       image_feed(graph, image_path, network.prefix))


TransferTensors = namedtuple("TransferTensors", [
    "mode",            # 'batch', 'map' or 'single'
    "images",          # uint8 placeholder [None, None, None, 3]: a stack of same-size RGB images 0..255
    "resized",         # float32 [None, 299, 299, 3] 0..255 (feedable: distorted images go here)
    "bottlenecks",     # float32 [None, 2048] transfer values (None in 'single' mode)
    "decoded_input",   # DecodeJpeg:0 of the plain import (one uint8 HxWx3 image)
    "single_bottleneck",  # pool_3/_reshape:0 of the plain import, [1, 2048]
])


def _resize_settings(graph_def):
    for node in graph_def.node:
        if node.name == RESIZED.split(":")[0]:
            align = node.attr["align_corners"].b if "align_corners" in node.attr else False
            half = node.attr["half_pixel_centers"].b if "half_pixel_centers" in node.attr else False
            return align, half
    return False, False


def resize_like_graph(graph_def, images):
    """float32 [N, 299, 299, 3] from uint8 or float images [N, h, w, 3], with the graph's own
    ResizeBilinear settings (so the values are the ones its JPEG path would compute)."""
    align_corners, half_pixel = _resize_settings(graph_def)
    return tf.raw_ops.ResizeBilinear(images=tf.cast(images, tf.float32), size=[INPUT_SIZE, INPUT_SIZE],
                                     align_corners=align_corners, half_pixel_centers=half_pixel)


def bottlenecks_from_resized(graph_def, resized, mode="batch"):
    """Transfer values float32 [N, 2048] of ``resized`` [N, 299, 299, 3] (0..255), in the default graph.

    ``batch`` imports the graph's body once, fed the whole batch; ``map`` imports it inside
    ``tf.map_fn``, one image at a time (the released graph's batch-1 shapes are kept).
    """
    # only what pool_3 needs: no softmax weights, no JPEG decoder in the copy
    body = tf.graph_util.extract_sub_graph(graph_def, [BOTTLENECK.split(":")[0]])
    if mode == "batch":
        (pool,) = tf.import_graph_def(body, input_map={RESIZED: resized},
                                      return_elements=[BOTTLENECK], name="transfer")
        return tf.reshape(pool, [-1, BOTTLENECK_SIZE], name="transfer_values")

    def one_image(image):
        (pool,) = tf.import_graph_def(body, input_map={RESIZED: tf.expand_dims(image, 0)},
                                      return_elements=[BOTTLENECK], name="transfer")
        return tf.reshape(pool, [BOTTLENECK_SIZE])

    return tf.identity(tf.map_fn(one_image, resized, dtype=tf.float32, back_prop=False,
                                 parallel_iterations=4), name="transfer_values")


def build_transfer(graph_def, mode="batch"):
    """Graph pieces computing transfer values for many images, in the current default graph.

    Imports ``graph_def`` once with its own names (for classification and the ``single`` path)
    and, for ``batch``/``map``, once more under ``transfer/`` fed from a batch of resized
    images (see the module docstring).  Returns a :class:`TransferTensors`.
    """
    if mode not in ("batch", "map", "single"):
        raise CookbookError(f"transfer mode must be batch, map or single, not {mode!r}")
    import_inception(graph_def)
    graph = tf.get_default_graph()
    with tf.name_scope("transfer_input"):
        images = tf.placeholder(tf.uint8, [None, None, None, 3], name="images")
        resized = resize_like_graph(graph_def, images)
        resized = tf.placeholder_with_default(resized, [None, INPUT_SIZE, INPUT_SIZE, 3], name="resized")
    bottlenecks = bottlenecks_from_resized(graph_def, resized, mode) if mode != "single" else None
    return TransferTensors(mode, images, resized, bottlenecks, graph.get_tensor_by_name(DECODED_INPUT),
                         graph.get_tensor_by_name(BOTTLENECK_FLAT))


def _run(session, fetch, feed, timing):
    began = time.perf_counter()
    out = session.run(fetch, feed)
    if timing is not None:
        timing["session_seconds"] = timing.get("session_seconds", 0.0) + time.perf_counter() - began
        timing["session_runs"] = timing.get("session_runs", 0) + 1
    return out


def transfer_values(session, transfer, images, batch_size=32, timing=None):
    """Transfer values (float32 [N, 2048]) for ``images``: a list of uint8 RGB HxWx3 arrays.

    Images of equal size are stacked and run ``batch_size`` at a time (``single`` mode: one
    ``Session.run`` each).  ``timing``, a dict, accumulates ``session_seconds``/``session_runs``.
    """
    out = np.zeros((len(images), BOTTLENECK_SIZE), np.float32)
    if transfer.mode == "single":
        for index, image in enumerate(images):
            out[index] = _run(session, transfer.single_bottleneck, {transfer.decoded_input: image}, timing)[0]
        return out
    by_shape = {}
    for index, image in enumerate(images):
        by_shape.setdefault(image.shape, []).append(index)
    for indices in by_shape.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            stack = np.stack([images[i] for i in chunk])
            out[chunk] = _run(session, transfer.bottlenecks, {transfer.images: stack}, timing)
    return out


def resized_transfer_values(session, transfer, resized, timing=None):
    """Transfer values for images already resized to [N, 299, 299, 3] float 0..255 (distortions)."""
    if transfer.mode == "single":
        raise CookbookError("distortions need the batch or map transfer mode")
    return _run(session, transfer.bottlenecks, {transfer.resized: resized}, timing)


def check_batch_mode(session, transfer, atol=1e-3, seed=0):
    """True when the batched values equal the single-image values on two random images.

    Any TensorFlow error (a graph that refuses batches) counts as False.
    """
    if transfer.mode == "single":
        return True
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (37, 45, 3), dtype=np.uint8) for _ in range(2)]
    try:
        batched = transfer_values(session, transfer, images, batch_size=2)
    except (tf.errors.OpError, ValueError):
        return False
    single = np.concatenate([session.run(transfer.single_bottleneck, {transfer.decoded_input: im})
                             for im in images])
    scale = max(1.0, float(np.abs(single).max()))
    return bool(np.allclose(batched, single, atol=atol * scale, rtol=1e-3))


# ---------------------------------------------------------------------------------------------
# The new top layer that retraining puts on the bottleneck (retrain.py's final_training_ops)

TOP_LAYER_SCOPE = "final_training_ops"


def top_layer_logits(bottleneck, num_classes, hidden_units=0):
    """[N, 2048] -> logits [N, num_classes]; with ``hidden_units`` a ReLU layer comes first.

    retrain.py's initialisation: final weights truncated normal (std 0.001), biases 0.  Both the
    retraining graph and the SavedModel export build it here, so their variables match by name.
    """
    with tf.variable_scope(TOP_LAYER_SCOPE, reuse=tf.AUTO_REUSE):
        x = bottleneck
        if hidden_units:
            fan_in = bottleneck.get_shape().as_list()[-1]
            x = dense(x, "hidden", hidden_units, stddev=float(np.sqrt(2.0 / fan_in)), activation=tf.nn.relu)
        return dense(x, "final", num_classes, stddev=0.001)
