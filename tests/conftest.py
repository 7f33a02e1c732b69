"""Shared fixtures: small data sets written in the real formats, no network."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _no_stray_data(tmp_path_factory, monkeypatch):
    """Default data/models folders point into a temp dir, so tests never touch the checkout's."""
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("CNN_COOKBOOK_DATA", str(root / "default-data"))
    monkeypatch.setenv("CNN_COOKBOOK_MODELS", str(root / "default-models"))


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory):
    """Synthetic digits as the four MNIST idx files: 6000 train (the last 600 = validation), 1000 test."""
    from cnn_cookbook.datasets.mnist import write_synthetic_mnist

    return write_synthetic_mnist(tmp_path_factory.mktemp("mnist"), train=6000, test=1000)


def run_recipe(script, *args, cwd=None, timeout=240):
    """Run recipes/<script> in a subprocess; returns the CompletedProcess (text output)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(REPO / "recipes" / script), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or REPO, env=env, timeout=timeout)


def assert_one_line_error(proc, *fragments):
    """A user error: exit status 2 and a single 'error: ...' line naming what went wrong."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:"), proc.stderr  # nothing else on stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]
