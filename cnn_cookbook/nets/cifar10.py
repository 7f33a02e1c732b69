"""The CIFAR-10 networks: the cookbook's "advanced CNN", Hvass-Labs #06 and seed 002's Keras CNN.

Each core builder takes the images its input pipeline produces (NHWC float32, batch may be
None) and returns ``(logits, endpoints)``:

- :func:`cookbook_cifar`: [N, 24, 24, 3] per-image standardised (mean 0, std 1 per image).
- :func:`hvass_cifar`: [N, 24, 24, 3] with values 0..1.
- :func:`keras_style_cifar`: [N, 32, 32, 3] with values -0.5..0.5 (the seed's x/255 - 0.5).

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


def _is_tensor(value):
    return isinstance(value, (tf.Tensor, tf.Variable))


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


def batch_norm(x, training, decay=0.9997, epsilon=1e-3, name="batch_norm"):
    """Batch normalisation from tf.nn ops, over all axes but the last (channels).

    Training normalises with the batch's moments and updates moving averages (the update ops go
    to ``tf.GraphKeys.UPDATE_OPS``, which the train op depends on); evaluation normalises with
    the moving averages.  The averages are zero-debiased (divided by 1 - decay^updates, as Adam
    does for its moments), so they are usable after a short run too, not only after the ~3000
    steps PrettyTensor's decay of 0.9997 needs to forget its initial values.  Like PrettyTensor's
    default, there is a learned shift (beta) but no scale.
    """
    channels = x.get_shape().as_list()[-1]
    with tf.variable_scope(name):
        beta = tf.get_variable("beta", [channels], initializer=tf.zeros_initializer())
        # biased running sums (start at 0) and how often they were updated
        kw = dict(trainable=False, collections=[tf.GraphKeys.GLOBAL_VARIABLES, tf.GraphKeys.MOVING_AVERAGE_VARIABLES])
        mean_sum = tf.get_variable("moving_mean_biased", [channels], initializer=tf.zeros_initializer(), **kw)
        var_sum = tf.get_variable("moving_variance_biased", [channels], initializer=tf.zeros_initializer(), **kw)
        updates = tf.get_variable("moving_updates", [], initializer=tf.zeros_initializer(), **kw)

    def batch_moments():
        mean, variance = tf.nn.moments(x, axes=list(range(x.get_shape().ndims - 1)))
        return mean, variance

    def moving_moments():
        correction = tf.maximum(1.0 - tf.pow(decay, updates), 1e-12)
        # before any update the biased sums are 0: fall back to mean 0, variance 1
        fresh = tf.equal(updates, 0.0)
        mean = tf.where(fresh, tf.zeros_like(mean_sum), mean_sum / correction)
        variance = tf.where(fresh, tf.ones_like(var_sum), var_sum / correction)
        return mean, variance

    def update(mean, variance):
        return tf.group(tf.assign(mean_sum, decay * mean_sum + (1 - decay) * mean),
                        tf.assign(var_sum, decay * var_sum + (1 - decay) * variance),
                        tf.assign_add(updates, 1.0))

    if _is_tensor(training):
        mean, variance = tf.cond(training, batch_moments, moving_moments)
        batch_mean, batch_variance = batch_moments()

        def update_when_training():
            with tf.control_dependencies([update(batch_mean, batch_variance)]):
                return tf.constant(True)

        tf.add_to_collection(tf.GraphKeys.UPDATE_OPS,
                             tf.cond(training, update_when_training, lambda: tf.constant(False)))
    elif training:
        mean, variance = batch_moments()
        tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, update(mean, variance))
    else:
        mean, variance = moving_moments()
    return tf.nn.batch_normalization(x, mean, variance, offset=beta, scale=None, variance_epsilon=epsilon)


def hvass_cifar(images, num_classes=10, training=False, scope="cifar10_hvass"):
    """Hvass #06: conv5x5x64 + batch norm - relu - pool2, conv5x5x64 - relu - pool2, fc256, fc128, fc.

    PrettyTensor's layers: Xavier-scaled weights, zero biases, ReLU after each hidden layer,
    batch norm in the first convolution only.  (The first conv's bias is cancelled by batch
    norm's mean subtraction; it stays so the layer is the shared conv2d.)
    """
    with tf.variable_scope(scope, reuse=tf.AUTO_REUSE):
        ends = OrderedDict()
        conv1 = layers.conv2d(images, "conv1", 5, 64, stddev=xavier(5 * 5 * 3, 64), activation=None)
        ends["conv1"] = x = tf.nn.relu(batch_norm(conv1, training, name="conv1/batch_norm"))
        ends["pool1"] = x = layers.max_pool(x, 2)
        ends["conv2"] = x = layers.conv2d(x, "conv2", 5, 64, stddev=xavier(5 * 5 * 64, 64))
        ends["pool2"] = x = layers.max_pool(x, 2)
        x = layers.flatten(x)
        width = x.get_shape().as_list()[-1]
        ends["fc1"] = x = layers.dense(x, "fc1", 256, stddev=xavier(width, 256), activation=tf.nn.relu)
        ends["fc2"] = x = layers.dense(x, "fc2", 128, stddev=xavier(256, 128), activation=tf.nn.relu)
        ends["logits"] = logits = layers.dense(x, "fc3", num_classes, stddev=xavier(128, num_classes))
        return logits, ends


def dropout(x, rate, training):
    """Dropout at ``rate`` while training, identity at evaluation (the seed's Keras behaviour)."""
    if _is_tensor(training):
        return tf.cond(training, lambda: tf.nn.dropout(x, rate=rate), lambda: tf.identity(x))
    return tf.nn.dropout(x, rate=rate) if training else x


def leaky_relu(x):
    """LeakyReLU(0.1).  Written as max(x, 0.1 x), equal for slopes below 1: TF 2.21's grappler
    remapper logs an error when it tries to fuse tf.nn.leaky_relu's gradient after a bias add."""
    return tf.maximum(x, 0.1 * x)


def keras_style_cifar(images, num_classes=10, training=False, scope="cifar10_keras_style"):
    """Seed 002: conv3x3x16, conv3x3x32, pool2, drop .25, conv3x3x32, conv3x3x64, pool2, drop .25,
    dense256, drop .5, dense10; LeakyReLU(0.1) after every layer, the output layer included (a
    quirk of the seed, kept: the logits are LeakyReLU'd before the softmax).  1,084,234 weights.
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
                x = dropout(x, 0.25, training)
        x = layers.flatten(x)
        ends["fc1"] = x = layers.dense(x, "fc1", 256, stddev=xavier(x.get_shape().as_list()[-1], 256),
                                       activation=leaky_relu)
        x = dropout(x, 0.5, training)
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
