"""The CIFAR-10 networks: the cookbook's "advanced CNN", Hvass-Labs #06 and the Keras notebook's CNN.

Each core builder takes the images its input pipeline produces (NHWC float32, batch may be
None) and returns ``(logits, endpoints)``:

- :func:`cookbook_cifar`: [N, 24, 24, 3] per-image standardised (mean 0, std 1 per image).
- :func:`hvass_cifar`: [N, 24, 24, 3] with values 0..1.
- :func:`keras_style_cifar`: [N, 32, 32, 3] with values -0.5..0.5 (the tutorial's x/255 - 0.5).

The ``*_from_pixels`` builders (registered in :data:`cnn_cookbook.nets.NETWORKS`) take plain RGB
images 0..1 of the same size and apply the pipeline's test-time normalisation first, so another
recipe can rebuild a trained network from its checkpoint with the usual 0..1 placeholder.

``training`` is a Python bool or a boolean tensor; it switches dropout and batch norm.
"""

import math
from collections import OrderedDict

from cnn_cookbook.datasets.cifar10_pipeline import normalise_unit_pixels
from cnn_cookbook.nets import layers
from cnn_cookbook.tf1 import tf


def xavier(fan_in, fan_out):
    """Truncated normal with Glorot's variance 2/(fan_in+fan_out), the scale PrettyTensor and
    Keras start from (they draw it uniformly; the difference does not matter for training)."""
    return math.sqrt(2.0 / (fan_in + fan_out))


def lrn(x):
    """Local response normalisation with AlexNet's parameters, as the cookbook uses them."""
    return tf.nn.lrn(x, depth_radius=5, bias=2.0, alpha=1e-3, beta=0.75)


def cookbook_cifar(images, num_classes=10, training=False, scope="cifar10_cookbook"):
    """Cookbook ch. 8 "advanced CNN": conv5x5x64-relu-pool3/2-LRN twice, fc384, fc192, fc.

    Weights truncated_normal(std 0.05), biases 0; no dropout or batch norm (``training`` unused).
    """
    del training
    init = 0.05
    with tf.variable_scope(scope, reuse=tf.AUTO_REUSE):
        ends = OrderedDict()
        x = images
        for i in (1, 2):
            ends[f"conv{i}"] = x = layers.conv2d(x, f"conv{i}", 5, 64, stddev=init)
            ends[f"pool{i}"] = x = layers.max_pool(x, size=3, stride=2)
            ends[f"norm{i}"] = x = lrn(x)
        x = layers.flatten(x)
        ends["fc1"] = x = layers.dense(x, "fc1", 384, stddev=init, activation=tf.nn.relu)
        ends["fc2"] = x = layers.dense(x, "fc2", 192, stddev=init, activation=tf.nn.relu)
        ends["logits"] = logits = layers.dense(x, "fc3", num_classes, stddev=init)
        return logits, ends


def hvass_cifar(images, num_classes=10, training=False, scope="cifar10_hvass"):
    """Hvass #06: conv5x5x64 + batch norm - relu - pool2, conv5x5x64 - relu - pool2, fc256, fc128, fc.

    PrettyTensor's layers: Xavier-scaled weights, zero biases, ReLU after each hidden layer,
    batch norm in the first convolution only.  (The first conv's bias is cancelled by batch
    norm's mean subtraction; it stays so the layer is the shared conv2d.)
    """
    with tf.variable_scope(scope, reuse=tf.AUTO_REUSE):
        ends = OrderedDict()
        conv1 = layers.conv2d(images, "conv1", 5, 64, stddev=xavier(5 * 5 * 3, 64), activation=None)
        ends["conv1"] = x = tf.nn.relu(layers.batch_norm(conv1, training, name="conv1/batch_norm"))
        ends["pool1"] = x = layers.max_pool(x, 2)
        ends["conv2"] = x = layers.conv2d(x, "conv2", 5, 64, stddev=xavier(5 * 5 * 64, 64))
        ends["pool2"] = x = layers.max_pool(x, 2)
        x = layers.flatten(x)
        width = x.get_shape().as_list()[-1]
        ends["fc1"] = x = layers.dense(x, "fc1", 256, stddev=xavier(width, 256), activation=tf.nn.relu)
        ends["fc2"] = x = layers.dense(x, "fc2", 128, stddev=xavier(256, 128), activation=tf.nn.relu)
        ends["logits"] = logits = layers.dense(x, "fc3", num_classes, stddev=xavier(128, num_classes))
        return logits, ends


def leaky_relu(x):
    """LeakyReLU(0.1).  Written as max(x, 0.1 x), equal for slopes below 1: TF 2.21's grappler
    remapper logs an error when it tries to fuse tf.nn.leaky_relu's gradient after a bias add."""
    return tf.maximum(x, 0.1 * x)


def keras_style_cifar(images, num_classes=10, training=False, scope="cifar10_keras_style"):
    """The Keras notebook's CNN: conv3x3x16, conv3x3x32, pool2, drop .25, conv3x3x32, conv3x3x64, pool2, drop .25,
    dense256, drop .5, dense10; LeakyReLU(0.1) after every layer, the output layer included (a
    quirk of the tutorial, kept: the logits are LeakyReLU'd before the softmax).  1,084,234 weights.
    """
    with tf.variable_scope(scope, reuse=tf.AUTO_REUSE):
        ends = OrderedDict()
        x = images
        for i, (channels, pool) in enumerate([(16, False), (32, True), (32, False), (64, True)], 1):
            fan_in = 9 * x.get_shape().as_list()[-1]
            ends[f"conv{i}"] = x = layers.conv2d(x, f"conv{i}", 3, channels,
                                                 stddev=xavier(fan_in, 9 * channels), activation=leaky_relu)
            if pool:
                ends[f"pool{i}"] = x = layers.max_pool(x, 2)
                x = layers.dropout(x, 0.25, training)
        x = layers.flatten(x)
        ends["fc1"] = x = layers.dense(x, "fc1", 256, stddev=xavier(x.get_shape().as_list()[-1], 256),
                                       activation=leaky_relu)
        x = layers.dropout(x, 0.5, training)
        ends["logits"] = logits = layers.dense(x, "fc2", num_classes, stddev=xavier(256, num_classes),
                                               activation=leaky_relu)
        return logits, ends


# ---------------------------------------------------------------------------------------------
# On plain pixels: the pipeline's test-time normalisation (datasets.cifar10_pipeline), then the net


def cookbook_cifar_from_pixels(images, num_classes=10, training=False):
    """:func:`cookbook_cifar` on RGB 0..1 images [N, 24, 24, 3]."""
    return cookbook_cifar(normalise_unit_pixels(images, "cookbook"), num_classes, training)


def hvass_cifar_from_pixels(images, num_classes=10, training=False):
    """:func:`hvass_cifar` on RGB 0..1 images [N, 24, 24, 3] (its own input range)."""
    return hvass_cifar(normalise_unit_pixels(images, "hvass"), num_classes, training)


def keras_style_cifar_from_pixels(images, num_classes=10, training=False):
    """:func:`keras_style_cifar` on RGB 0..1 images [N, 32, 32, 3]."""
    return keras_style_cifar(normalise_unit_pixels(images, "keras-style"), num_classes, training)
