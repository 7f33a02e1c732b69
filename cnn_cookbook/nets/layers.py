"""Layers written with tf.nn ops and tf.get_variable (no Keras: it has no graph mode any more).

Each layer opens a variable scope named after it; weights are created with get_variable so
an enclosing ``reuse=tf.AUTO_REUSE`` scope shares them between towers.
"""

from cnn_cookbook.tf1 import tf


def truncated_normal(stddev):
    return tf.truncated_normal_initializer(stddev=stddev)


def constant(value):
    return tf.constant_initializer(value)


def conv2d(x, name, size, channels, *, stride=1, padding="SAME", stddev=0.1,
           bias_init=None, activation=tf.nn.relu):
    """size x size convolution to ``channels`` outputs, plus bias and activation (None: linear).

    The kernel variable is ``<name>/weights`` with shape [size, size, in, channels] (HWIO).
    """
    in_channels = x.get_shape().as_list()[-1]
    with tf.variable_scope(name):
        kernel = tf.get_variable("weights", [size, size, in_channels, channels],
                                 initializer=truncated_normal(stddev))
        bias = tf.get_variable("biases", [channels], initializer=bias_init or constant(0.0))
        out = tf.nn.bias_add(tf.nn.conv2d(x, kernel, [1, stride, stride, 1], padding), bias)
        return activation(out) if activation is not None else out


def max_pool(x, size=2, stride=None, padding="SAME"):
    stride = stride or size
    return tf.nn.max_pool(x, [1, size, size, 1], [1, stride, stride, 1], padding)


def flatten(x):
    """[N, ...] -> [N, prod(...)]; N may be unknown (None)."""
    dims = x.get_shape().as_list()[1:]
    size = 1
    for d in dims:
        size *= d
    return tf.reshape(x, [-1, size])


def dense(x, name, units, *, stddev=0.1, bias_init=None, activation=None):
    """Fully connected layer ``x @ weights + biases``; variables ``<name>/weights|biases``."""
    with tf.variable_scope(name):
        weights = tf.get_variable("weights", [x.get_shape().as_list()[-1], units],
                                  initializer=truncated_normal(stddev))
        bias = tf.get_variable("biases", [units], initializer=bias_init or constant(0.0))
        out = tf.nn.bias_add(tf.matmul(x, weights), bias)
        return activation(out) if activation is not None else out
