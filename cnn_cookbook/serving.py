"""SavedModel export for serving: every trained classifier as a ``serving_default`` signature.

- :func:`export_checkpoint` rebuilds the network a MNIST or CIFAR-10 recipe trained (from its
  ``network.json``), restores the latest checkpoint and writes a SavedModel.  The signature
  takes ``images`` float32 [N, H, W, C], RGB or grey 0..1, of any size: they are centrally
  cropped (or padded) to the network's input size, as the CIFAR recipe evaluates.
- :func:`export_retrained` writes the frozen Inception base plus the retrained top layer.  Its
  signature takes ``image_bytes`` string [N], each an encoded JPEG (or PNG) file, as
  TensorFlow's retrain.py exported a JPEG-fed graph (it took one image; this takes a batch).
- Both return ``probabilities`` float32 [N, classes], ``classes`` int32 [N] and ``labels``
  string [N], and carry the class names as the asset ``class_names.txt``.
- :func:`load` reads any of them back into a Session with TF1's ``tf.saved_model.loader``.

Tag: ``serve``.  A SavedModel is written into a temporary folder beside ``export_dir`` and
renamed into place, so an interrupted export never leaves half a model where a good one was.
"""

import shutil
import tempfile
from collections import namedtuple
from pathlib import Path

import numpy as np

from cnn_cookbook import training
from cnn_cookbook.errors import CookbookError, first_line
from cnn_cookbook.fileio import ensure_dir
from cnn_cookbook.nets import get_network
from cnn_cookbook.nets import inception_v3 as iv3
from cnn_cookbook.tf1 import new_session, tf

SIGNATURE = "serving_default"
ASSET = "class_names.txt"
TAGS = ("serve",)


def _class_name_outputs(probabilities, class_names):
    """``classes`` (argmax, int32) and ``labels`` (class name strings) of a probabilities tensor."""
    classes = tf.argmax(probabilities, axis=1, output_type=tf.int32, name="classes")
    labels = tf.gather(tf.constant([str(n) for n in class_names]), classes, name="labels")
    return classes, labels


def _atomic_export(export_dir, write):
    """Run ``write(tmp_dir)`` into a fresh folder beside ``export_dir``, then swap it in."""
    export_dir = Path(export_dir)
    ensure_dir(export_dir.parent)
    if export_dir.exists() and not (export_dir / "saved_model.pb").is_file():
        raise CookbookError(f"{export_dir} exists and is not a SavedModel; choose an empty or new "
                            "--export-savedmodel folder")
    scratch = Path(tempfile.mkdtemp(prefix=f".{export_dir.name}.", dir=export_dir.parent))
    try:
        write(scratch / "model")
        if export_dir.exists():
            old = scratch / "old"
            export_dir.rename(old)
        (scratch / "model").rename(export_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return export_dir


def write_savedmodel(session, export_dir, inputs, probabilities, class_names):
    """Write ``session``'s graph as a SavedModel with a ``serving_default`` signature.

    ``inputs``: dict name -> tensor; ``probabilities``: [N, classes] in the same graph.  The
    signature's outputs are ``probabilities``, ``classes`` and ``labels``; the class names go
    in as the asset ``class_names.txt``.  Returns the export folder.
    """
    graph = session.graph
    with graph.as_default():
        classes, labels = _class_name_outputs(probabilities, class_names)
    build_info = tf.saved_model.utils.build_tensor_info
    signature = tf.saved_model.signature_def_utils.build_signature_def(
        inputs={name: build_info(t) for name, t in inputs.items()},
        outputs={"probabilities": build_info(probabilities), "classes": build_info(classes),
                 "labels": build_info(labels)},
        method_name=tf.saved_model.signature_constants.PREDICT_METHOD_NAME)

    def write(target):
        asset_source = Path(tempfile.mkdtemp(prefix=".assets-", dir=target.parent)) / ASSET
        asset_source.write_text("".join(f"{n}\n" for n in class_names), encoding="utf-8")
        with graph.as_default():
            asset = tf.constant(str(asset_source), name="class_names_file")
            tf.add_to_collection(tf.GraphKeys.ASSET_FILEPATHS, asset)
            builder = tf.saved_model.builder.SavedModelBuilder(str(target))
            builder.add_meta_graph_and_variables(
                session, list(TAGS), signature_def_map={SIGNATURE: signature},
                assets_collection=tf.get_collection(tf.GraphKeys.ASSET_FILEPATHS))
            builder.save()

    return _atomic_export(export_dir, write)


def export_checkpoint(checkpoint_dir, export_dir, device="cpu"):
    """SavedModel of the network in a recipe's ``checkpoints/`` folder (its latest checkpoint).

    Rebuilds the network ``network.json`` names (MNIST and CIFAR-10 recipes) behind a crop, on
    the signature's ``images`` placeholder.  Returns the export folder.
    """

    checkpoint_dir = Path(checkpoint_dir)
    info = training.read_network_info(checkpoint_dir)
    try:
        builder = get_network(info["network"])
        height, width, channels = [int(d) for d in info["image_shape"]]
        num_classes = int(info["num_classes"])
    except (KeyError, TypeError, ValueError):
        raise CookbookError(f"{checkpoint_dir / training.NETWORK_INFO} lacks network, image_shape or "
                            "num_classes; point at a checkpoints folder written by a cnn_cookbook recipe") from None
    class_names = info.get("class_names") or [str(i) for i in range(num_classes)]
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [None, None, None, channels], name="images")
        cropped = tf.image.resize_image_with_crop_or_pad(images, height, width)
        logits, _ = builder(cropped, num_classes, False)
        probabilities = tf.nn.softmax(logits, name="probabilities")
        checkpoints = training.Checkpoints(checkpoint_dir, var_list=tf.global_variables())
        with new_session(graph, device) as session:
            checkpoints.restore(session)
            return write_savedmodel(session, export_dir, {"images": images}, probabilities, class_names)


def export_retrained(base_graph_def, weights, class_names, export_dir, hidden_units=0, mode="map",
                     device="cpu"):
    """SavedModel of the frozen Inception base + the retrained top layer (:mod:`cnn_cookbook.retrain`).

    ``weights``: variable name -> value, as :class:`cnn_cookbook.retrain.RetrainResult` has
    them; ``mode``: ``batch`` or ``map`` (see :mod:`cnn_cookbook.nets.inception_v3`; ``map``
    works with any graph).  The signature decodes each encoded image (JPEG or PNG) to RGB,
    resizes it with the graph's own settings and computes the probabilities.
    """

    mode = "batch" if mode == "batch" else "map"
    graph = tf.Graph()
    with graph.as_default():
        image_bytes = tf.placeholder(tf.string, [None], name="image_bytes")

        def decode(data):
            # JPEG with the accurate integer DCT, as Pillow decodes the training images (TensorFlow's
            # default, the fast DCT, shifts pixels by a few levels); anything else through decode_image
            image = tf.cond(tf.image.is_jpeg(data),
                            lambda: tf.image.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
                            lambda: tf.image.decode_image(data, channels=3, expand_animations=False))
            image.set_shape([None, None, 3])
            return iv3.resize_like_graph(base_graph_def, tf.expand_dims(image, 0))[0]

        resized = tf.map_fn(decode, image_bytes, dtype=tf.float32, back_prop=False)
        bottlenecks = iv3.bottlenecks_from_resized(base_graph_def, resized, mode)
        logits = iv3.top_layer_logits(bottlenecks, len(class_names), hidden_units)
        probabilities = tf.nn.softmax(logits, name="probabilities")
        if iv3.is_stand_in(base_graph_def):  # the marker travels, so every later output says STAND-IN
            tf.constant(iv3.STAND_IN_LABEL, name=iv3.STAND_IN_MARKER)
        variables = tf.global_variables()
        missing = [v.op.name for v in variables if v.op.name not in weights]
        if missing:
            raise CookbookError(f"the trained weights lack {missing[0]}; was the hidden layer's size the same?",
                                field="hidden_units")
        with new_session(graph, device) as session:
            for variable in variables:
                variable.load(weights[variable.op.name], session)
            return write_savedmodel(session, export_dir, {"image_bytes": image_bytes}, probabilities,
                                    class_names)


# ---------------------------------------------------------------------------------------------
# Loading

Served = namedtuple("Served", ["session", "inputs", "outputs", "class_names", "stand_in"])


def is_savedmodel(path):
    return (Path(path) / "saved_model.pb").is_file()


def load(export_dir, device="cpu"):
    """Load a SavedModel into a new Session (TF1's ``tf.saved_model.loader.load``).

    Returns :class:`Served`: the session (the caller closes it), ``inputs`` and ``outputs``
    (name -> tensor of the ``serving_default`` signature), the class names read from the
    asset, and ``stand_in`` (exported from the retraining chapter's stand-in graph).
    """
    export_dir = Path(export_dir)
    if not is_savedmodel(export_dir):
        raise CookbookError(f"{export_dir} is not a SavedModel folder (no saved_model.pb); give the folder "
                            "--export-savedmodel wrote")
    graph = tf.Graph()
    session = new_session(graph, device)
    try:
        meta = tf.saved_model.loader.load(session, list(TAGS), str(export_dir))
    except (OSError, RuntimeError, tf.errors.OpError) as exc:
        session.close()
        raise CookbookError(f"cannot load the SavedModel in {export_dir}: {first_line(exc)}") from None
    if SIGNATURE not in meta.signature_def:
        session.close()
        raise CookbookError(f"{export_dir} has no {SIGNATURE!r} signature (it has "
                            f"{', '.join(meta.signature_def) or 'none'})")
    signature = meta.signature_def[SIGNATURE]
    inputs = {k: graph.get_tensor_by_name(v.name) for k, v in signature.inputs.items()}
    outputs = {k: graph.get_tensor_by_name(v.name) for k, v in signature.outputs.items()}
    asset = export_dir / "assets" / ASSET
    class_names = asset.read_text(encoding="utf-8").splitlines() if asset.is_file() else None

    stand_in = any(op.name == iv3.STAND_IN_MARKER for op in graph.get_operations())
    return Served(session, inputs, outputs, class_names, stand_in)


def predict_files(export_dir, image_paths, device="cpu"):
    """(probabilities [N, classes], class names, stand_in) of image files through a SavedModel
    that the retraining chapter exported (``image_bytes`` in), in a Session of its own."""
    missing = [i for i in image_paths if not Path(i).is_file()]
    if missing:
        raise CookbookError(f"image {missing[0]} does not exist; check the path")
    served = load(export_dir, device)
    with served.session:
        if "image_bytes" not in served.inputs:
            raise CookbookError(f"{export_dir} takes {', '.join(served.inputs)}, not encoded images: it is not a "
                                "SavedModel that 'retrain --export-savedmodel' wrote")
        probabilities, _ = predict(served, [Path(i).read_bytes() for i in image_paths])
    names = served.class_names or [str(i) for i in range(probabilities.shape[1])]
    return probabilities, names, served.stand_in


def predict(served, images, batch_size=256):
    """Run a loaded signature on ``images`` (float arrays 0..1, or a list of encoded image bytes)
    in batches; returns (probabilities [N, classes], classes [N])."""
    (name, tensor), = served.inputs.items()
    probabilities, classes = [], []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        if tensor.dtype == tf.string:
            chunk = np.asarray(list(chunk), dtype=object)
        try:
            p, c = served.session.run([served.outputs["probabilities"], served.outputs["classes"]], {tensor: chunk})
        except tf.errors.InvalidArgumentError as exc:  # e.g. bytes that are no JPEG/PNG/GIF/BMP file
            raise CookbookError(f"the SavedModel refused the input: {first_line(exc)}") from None
        probabilities.append(p)
        classes.append(c)
    return np.concatenate(probabilities), np.concatenate(classes)
