"""Graph builders, one module per family of networks.

Every builder takes an image tensor (NHWC, float, batch dimension None allowed) and returns
logits.  Builders open their own ``tf.variable_scope(..., reuse=tf.AUTO_REUSE)``, so calling
one twice (train tower and evaluation tower) shares the weights instead of copying them.

:data:`NETWORKS` maps a network's name to ``module:function``; checkpoints record that name so
other recipes (filter visualisation, adversarial examples) can rebuild the graph they restore.
"""

import importlib

from cnn_cookbook.errors import CookbookError

NETWORKS = {
    "cookbook": "cnn_cookbook.nets.mnist:cookbook_cnn",
    "linear": "cnn_cookbook.nets.mnist:linear",
    "hvass-cnn": "cnn_cookbook.nets.mnist:hvass_cnn",
    "hvass-chain": "cnn_cookbook.nets.chain:hvass_chain",  # the same net in Hvass #03's chained style
    # CIFAR-10 (recipes/cifar10_cnn.py); these take RGB 0..1 images and normalise them as the
    # chapter's input pipeline does (24x24 for cookbook and hvass, 32x32 for keras-style)
    "cifar10-cookbook": "cnn_cookbook.nets.cifar10:cookbook_cifar_from_pixels",
    "cifar10-hvass": "cnn_cookbook.nets.cifar10:hvass_cifar_from_pixels",
    "cifar10-keras-style": "cnn_cookbook.nets.cifar10:keras_style_cifar_from_pixels",
}


def get_network(name):
    """The builder function registered under ``name``."""
    try:
        module, function = NETWORKS[name].split(":")
    except KeyError:
        raise CookbookError(f"unknown network {name!r}; known: {', '.join(sorted(NETWORKS))}") from None
    return getattr(importlib.import_module(module), function)
