"""The MNIST networks: the cookbook's CNN and Hvass-Labs #01 (linear) and #02/#04 (CNN).

Input: float images [N, 28, 28, 1] with values 0..1 (N may be None).  Output: ``(logits,
endpoints)``, endpoints being the named intermediate tensors the plots and visualisations use.
"""

from collections import OrderedDict

from cnn_cookbook.nets import layers
from cnn_cookbook.tf1 import tf


def cookbook_cnn(images, num_classes=10, training=False, scope="cookbook_cnn"):
    """Cookbook ch. 8: conv4x4x25-relu-pool2, conv4x4x50-relu-pool2, fc100-relu, fc (std 0.1)."""
    del training  # no dropout or batch norm in this network
    with tf.variable_scope(scope, reuse=tf.AUTO_REUSE):
        ends = OrderedDict()
        ends["conv1"] = layers.conv2d(images, "conv1", 4, 25, stddev=0.1)
        ends["pool1"] = layers.max_pool(ends["conv1"], 2)
        ends["conv2"] = layers.conv2d(ends["pool1"], "conv2", 4, 50, stddev=0.1)
        ends["pool2"] = layers.max_pool(ends["conv2"], 2)
        # the book draws fully connected biases from the same truncated normal as the weights
        fc_bias = layers.truncated_normal(0.1)
        ends["fc1"] = layers.dense(layers.flatten(ends["pool2"]), "fc1", 100, stddev=0.1,
                                   bias_init=fc_bias, activation=tf.nn.relu)
        logits = layers.dense(ends["fc1"], "fc2", num_classes, stddev=0.1, bias_init=fc_bias)
        ends["logits"] = logits
        return logits, ends


def linear(images, num_classes=10, training=False, scope="linear"):
    """Hvass #01: softmax regression, weights and biases start at zero."""
    del training
    with tf.variable_scope(scope, reuse=tf.AUTO_REUSE):
        flat = layers.flatten(images)
        with tf.variable_scope("fc"):
            weights = tf.get_variable("weights", [flat.get_shape().as_list()[-1], num_classes],
                                      initializer=tf.zeros_initializer())
            biases = tf.get_variable("biases", [num_classes], initializer=tf.zeros_initializer())
        logits = tf.matmul(flat, weights) + biases
        return logits, OrderedDict(logits=logits)


def hvass_cnn(images, num_classes=10, training=False, scope="hvass_cnn"):
    """Hvass #02/#04: conv5x5x16-pool-relu, conv5x5x36-pool-relu, fc128-relu, fc (std 0.05, bias 0.05)."""
    del training
    bias = layers.constant(0.05)
    with tf.variable_scope(scope, reuse=tf.AUTO_REUSE):
        ends = OrderedDict()
        # Hvass pools before the ReLU; for max pooling the two orders give the same values
        ends["conv1"] = layers.conv2d(images, "conv1", 5, 16, stddev=0.05, bias_init=bias, activation=None)
        ends["pool1"] = tf.nn.relu(layers.max_pool(ends["conv1"], 2))
        ends["conv2"] = layers.conv2d(ends["pool1"], "conv2", 5, 36, stddev=0.05, bias_init=bias, activation=None)
        ends["pool2"] = tf.nn.relu(layers.max_pool(ends["conv2"], 2))
        ends["fc1"] = layers.dense(layers.flatten(ends["pool2"]), "fc1", 128, stddev=0.05,
                                   bias_init=bias, activation=tf.nn.relu)
        logits = layers.dense(ends["fc1"], "fc2", num_classes, stddev=0.05, bias_init=bias)
        ends["logits"] = logits
        return logits, ends
