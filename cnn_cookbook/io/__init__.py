"""File formats under the data sets and the networks (no TensorFlow).

- :mod:`cnn_cookbook.io.downloads`: every external file, found locally or downloaded and verified,
  and the safe archive extractor;
- :mod:`cnn_cookbook.io.images`: the one image reader and the PNG/JPEG encoders.

Both ``cnn_cookbook.datasets`` and ``cnn_cookbook.nets`` build on these; nothing here imports
either of them.
"""
