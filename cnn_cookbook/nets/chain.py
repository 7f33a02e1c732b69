"""A chainable layer builder in the style of PrettyTensor (Hvass #03), on :mod:`cnn_cookbook.nets.layers`.

PrettyTensor, which Hvass-Labs #03 is about, is abandoned; this is the part of its idiom the
tutorials use, in a few dozen lines.  Wrap a tensor and chain layers; each method returns a
new :class:`Chain`, and the last one, :meth:`Chain.softmax_classifier`, returns the heads::

    logits = wrap(images, activation=tf.nn.relu).\\
        conv2d(kernel=5, depth=16, name="conv1").\\
        max_pool(kernel=2, stride=2).\\
        conv2d(kernel=5, depth=36, name="conv2").\\
        max_pool(kernel=2, stride=2).\\
        flatten().\\
        fully_connected(size=128, name="fc1").\\
        softmax_classifier(num_classes=10, labels=labels).logits

``wrap``'s keyword arguments play the role of PrettyTensor's ``defaults_scope`` (activation,
initialiser std and bias of every layer, the ``training`` switch of dropout and batch norm).
Variables are ``<name>/weights`` and ``<name>/biases`` as with the plain helpers, so a chained
network and a hand-written one with the same names share checkpoints.
"""

from collections import OrderedDict, namedtuple

from cnn_cookbook.nets import layers
from cnn_cookbook.tf1 import tf

Classifier = namedtuple("Classifier", ["logits", "probabilities", "loss"])  # loss None without labels

_UNSET = object()


class Chain:
    """A tensor plus the layer defaults; ``endpoints`` holds every named layer's output, in order."""

    def __init__(self, tensor, defaults, endpoints):
        self.tensor, self.defaults, self.endpoints = tensor, defaults, endpoints

    def _then(self, tensor, name=None):
        if name:
            self.endpoints[name] = tensor
        return Chain(tensor, self.defaults, self.endpoints)

    def _default(self, value, key):
        return self.defaults[key] if value is _UNSET else value

    def conv2d(self, kernel, depth, name, stride=1, activation=_UNSET, batch_normalize=False):
        """kernel x kernel convolution to ``depth`` channels (SAME), then batch norm and activation."""
        bias = None if batch_normalize else layers.constant(self.defaults["bias"])
        x = layers.conv2d(self.tensor, name, kernel, depth, stride=stride, stddev=self.defaults["stddev"],
                          bias_init=bias, activation=None)
        chain = self._then(x)
        if batch_normalize:
            chain = chain.batch_normalize(f"{name}/batch_norm")
        activation = self._default(activation, "activation")
        return chain._then(activation(chain.tensor) if activation else chain.tensor, name)

    def max_pool(self, kernel=2, stride=2):
        return self._then(layers.max_pool(self.tensor, kernel, stride))

    def flatten(self):
        return self._then(layers.flatten(self.tensor))

    def fully_connected(self, size, name, activation=_UNSET):
        x = layers.dense(self.tensor, name, size, stddev=self.defaults["stddev"],
                         bias_init=layers.constant(self.defaults["bias"]),
                         activation=self._default(activation, "activation"))
        return self._then(x, name)

    def dropout(self, keep_prob):
        """Dropout while training (``wrap(..., training=...)``), the identity otherwise."""
        return self._then(layers.dropout(self.tensor, 1.0 - keep_prob, self.defaults["training"]))

    def batch_normalize(self, name="batch_norm"):
        """Batch statistics while training, moving averages otherwise (see nets.layers.batch_norm)."""
        return self._then(layers.batch_norm(self.tensor, self.defaults["training"], name=name))

    def softmax_classifier(self, num_classes, labels=None, name="fc_out"):
        """The last layer (linear) and its softmax; with ``labels`` also the mean cross-entropy."""
        logits = layers.dense(self.tensor, name, num_classes, stddev=self.defaults["stddev"],
                              bias_init=layers.constant(self.defaults["bias"]))
        self.endpoints["logits"] = logits
        loss = None
        if labels is not None:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        return Classifier(logits, tf.nn.softmax(logits), loss)


def wrap(tensor, activation=tf.nn.relu, stddev=0.05, bias=0.05, training=False):
    """Start a chain on ``tensor`` with these defaults for every layer (PrettyTensor's ``pt.wrap``
    inside ``pt.defaults_scope``); ``training`` is a bool or a boolean tensor."""
    return Chain(tensor, dict(activation=activation, stddev=stddev, bias=bias, training=training), OrderedDict())


def hvass_chain(images, num_classes=10, training=False, scope="hvass_chain"):
    """Hvass #02/#03's CNN written as the #03 tutorial chains it (same variables as ``hvass_cnn``).

    conv5x5x16-relu-pool2, conv5x5x36-relu-pool2, fc128-relu, fc; truncated normal std 0.05,
    biases 0.05.  Input [N, 28, 28, 1] 0..1; returns ``(logits, endpoints)``.
    """
    with tf.variable_scope(scope, reuse=tf.AUTO_REUSE):
        net = wrap(images, activation=tf.nn.relu, stddev=0.05, bias=0.05, training=training)
        head = net.\
            conv2d(kernel=5, depth=16, name="conv1").\
            max_pool(kernel=2, stride=2).\
            conv2d(kernel=5, depth=36, name="conv2").\
            max_pool(kernel=2, stride=2).\
            flatten().\
            fully_connected(size=128, name="fc1").\
            softmax_classifier(num_classes=num_classes, name="fc2")
        return head.logits, net.endpoints
