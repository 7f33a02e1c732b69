"""Where data sets and model files live by default (no TensorFlow).

- ``CNN_COOKBOOK_DATA`` / ``CNN_COOKBOOK_MODELS`` when set (each recipe's ``--data-dir`` /
  ``--graph`` / ``--vgg`` flags override those in turn);
- else, running from a checkout (the package sits beside ``recipes/``), that checkout's own
  ``data/`` and ``models/``, wherever the command is run from;
- else (an installed package) a per-user folder, ``platformdirs.user_data_dir("cnn_cookbook")``
  (``~/.local/share/cnn_cookbook`` on Linux), whose location is printed once, on first use.
"""

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "cnn_cookbook"
_announced = set()


def checkout_root():
    """The repository root when this package runs from a checkout, else None."""
    root = Path(__file__).resolve().parents[1]
    if (root / "recipes" / "mnist_cnn.py").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def user_root():
    """The per-user folder of an installed package (created by whoever writes into it)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _default(name, variable):
    value = os.environ.get(variable)
    if value:
        return Path(value)
    root = checkout_root()
    if root is not None:
        return root / name
    folder = user_root() / name
    if not folder.exists() and variable not in _announced:
        # first use of an installed package: say where its files go, and how to move them
        _announced.add(variable)
        print(f"cnn_cookbook: {name} files go to {folder} (set {variable} to use another folder)",
              file=sys.stderr)
    return folder


def data_root():
    return _default("data", "CNN_COOKBOOK_DATA")


def models_root():
    return _default("models", "CNN_COOKBOOK_MODELS")
