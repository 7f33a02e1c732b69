"""The recipes: thin programs (flags, one library call, a report).

In a checkout they are scripts (``python recipes/mnist_cnn.py``); installed, this folder is the
subpackage ``cnn_cookbook.recipes`` behind ``cnn-cookbook <recipe>`` and
``python -m cnn_cookbook <recipe>`` (see pyproject.toml).
"""
