"""cnn_cookbook: the classic TensorFlow 1.x CNN recipes, runnable today.

Graph-mode TensorFlow through ``tensorflow.compat.v1`` (see :mod:`cnn_cookbook.tf1`).
Importing this package is free of side effects: TensorFlow itself is imported only by the
modules that build graphs.
"""

__version__ = "0.1.0"
