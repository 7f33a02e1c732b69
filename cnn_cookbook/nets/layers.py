"""Layers written with tf.nn ops and tf.get_variable (no Keras: it has no graph mode any more).

Each layer opens a variable scope named after it; weights are created with get_variable so
an enclosing ``reuse=tf.AUTO_REUSE`` scope shares them between towers.  ``training`` (batch
norm, dropout) is a Python bool or a bool tensor such as ``Classifier.training``.
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


def _is_tensor(value):
    return isinstance(value, (tf.Tensor, tf.Variable))


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


def dropout(x, rate, training):
    """Dropout at ``rate`` while training, identity at evaluation (Keras' behaviour, as the Keras notebook has it)."""
    if _is_tensor(training):
        return tf.cond(training, lambda: tf.nn.dropout(x, rate=rate), lambda: tf.identity(x))
    return tf.nn.dropout(x, rate=rate) if training else x
