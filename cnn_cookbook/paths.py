"""Where data sets and model files live by default (no TensorFlow).

``data/`` and ``models/`` relative to the working directory (the repository root when the
recipes are run as documented), overridable with CNN_COOKBOOK_DATA / CNN_COOKBOOK_MODELS or
each recipe's ``--data-dir`` / ``--graph`` / ``--vgg`` flags.
"""

import os
from pathlib import Path


def data_root():
    return Path(os.environ.get("CNN_COOKBOOK_DATA", "data"))


def models_root():
    return Path(os.environ.get("CNN_COOKBOOK_MODELS", "models"))
