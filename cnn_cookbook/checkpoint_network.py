"""A network trained by a cookbook recipe, rebuilt from its checkpoints folder.

The MNIST and CIFAR-10 recipes write ``network.json`` beside their checkpoints, naming the
registered network (:data:`cnn_cookbook.nets.NETWORKS`) and its input shape; any recipe that
looks into or attacks a trained network (filter visualisation, the ensemble, adversarial
images) rebuilds the same graph from it here and restores only that network's variables.

It sits in the training layer, beside :mod:`cnn_cookbook.training`, whose ``Checkpoints`` and
``network.json`` make up the folder's format; the networks themselves come from the registry in
:mod:`cnn_cookbook.nets`.
"""

from pathlib import Path

from cnn_cookbook import graphs
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.nets import get_network
from cnn_cookbook.tf1 import tf
from cnn_cookbook.training import NETWORK_INFO, Checkpoints, read_network_info


def load_checkpoint_network(checkpoint_dir):
    """Rebuild the network a cookbook recipe trained and return it with a ``restore`` step.

    Reads ``<checkpoint_dir>/network.json`` (``network``, ``image_shape``, ``num_classes``,
    optionally ``class_names`` and ``value_range``), builds the registered network on an image
    placeholder in the current default graph, and sets ``restore(session)``, which loads only
    the network's variables from the latest checkpoint.  Layers: the network's 4-D endpoints
    (conv layers), in order.  Pixel values are 0..1 unless ``value_range`` says otherwise.
    Returns a :class:`cnn_cookbook.graphs.ImageNetwork` whose ``extra["info"]`` is network.json.
    """
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        raise CookbookError(f"no checkpoints folder at {checkpoint_dir}; train a network first (python "
                            "recipes/mnist_cnn.py --dataset synthetic) or name another folder",
                            field="checkpoint_dir")
    info = read_network_info(checkpoint_dir)
    try:
        builder = get_network(info["network"])
        image_shape = [int(d) for d in info["image_shape"]]
        num_classes = int(info["num_classes"])
    except (KeyError, TypeError, ValueError):
        raise CookbookError(f"{checkpoint_dir / NETWORK_INFO} lacks network, image_shape or "
                            "num_classes; point at a checkpoints folder written by a cnn_cookbook recipe") from None
    before = set(tf.global_variables())
    images = tf.placeholder(tf.float32, [None, *image_shape], name="images")
    logits, endpoints = builder(images, num_classes, False)
    variables = [v for v in tf.global_variables() if v not in before]
    checkpoints = Checkpoints(checkpoint_dir, var_list=variables)
    layers = {name: t for name, t in endpoints.items() if t.get_shape().ndims == 4}
    return graphs.ImageNetwork(
        images=images, layers=layers, value_range=tuple(info.get("value_range", (0.0, 1.0))),
        image_size=tuple(image_shape[:2]), logits=logits, class_names=info.get("class_names"),
        name=f"network {info['network']!r} of {checkpoint_dir}", restore=checkpoints.restore,
        extra={"info": info})
