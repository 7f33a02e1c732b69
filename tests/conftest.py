"""Shared fixtures: small data sets written in the real formats, no network; the two recipe runners.

``run_recipe`` runs a recipe as a program in a fresh Python (for what only a new process shows:
its console output from TensorFlow's C++ side, signals, exit on import errors).
``run_in_process`` calls the same recipe's ``main`` here, where TensorFlow is already loaded, which
saves the seconds of a TensorFlow import per run; both return a ``subprocess.CompletedProcess``.
"""

import contextlib
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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


def run_recipe(script, *args, cwd=None, timeout=240, env=None):
    """Run recipes/<script> in a subprocess; returns the CompletedProcess (text output).

    Its stdout and stderr are pipes, not terminals: progress comes as plain lines (every
    CNN_COOKBOOK_PROGRESS_SECONDS, which ``env`` may set)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg", **(env or {}))
    return subprocess.run([sys.executable, str(REPO / "recipes" / script), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or REPO, env=env, timeout=timeout)


_RECIPES = {}


def load_recipe(name):
    """recipes/<name>.py (``name`` with or without ``.py``) as a module, loaded once per test process."""
    name = name[:-3] if name.endswith(".py") else name
    if name not in _RECIPES:
        spec = importlib.util.spec_from_file_location(f"recipe_{name}", REPO / "recipes" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _RECIPES[name] = module
    return _RECIPES[name]


def run_in_process(script, *args):
    """``recipes/<script>``'s main(args) in this process, its stdout and stderr captured; returns a
    CompletedProcess as :func:`run_recipe` does (returncode 0 when main returns normally)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = [str(a) for a in args]
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = load_recipe(script).main(argv)
        except SystemExit as exc:
            status = exc.code
    if isinstance(status, str):  # sys.exit("message"): Python prints it and exits 1
        stderr.write(status + "\n")
        status = 1
    return subprocess.CompletedProcess([script, *argv], status or 0, stdout.getvalue(), stderr.getvalue())


def assert_one_line_error(proc, *fragments):
    """A user error: exit status 2 and a single 'error: ...' line naming what went wrong."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:"), proc.stderr  # nothing else on stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def readme_tensorboard_tags(recipe):
    """{run: [tag patterns]} that the TensorBoard table of docs/command-line.md lists for ``recipe`` (a row's
    first quoted name); ``<name>`` in a tag stands for any word."""
    import re

    text = (REPO / "docs" / "command-line.md").read_text()
    lines = text[text.index("| recipe | run | tags |"):].splitlines()[2:]
    runs = {}
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        names = re.findall(r"`([^`]+)`", cells[0])
        if names and names[0] == recipe:
            (run,) = re.findall(r"`([^`]+)`", cells[1])
            runs[run] = re.findall(r"`([^`]+)`", cells[2])
    assert runs, f"docs/command-line.md lists no TensorBoard tags for {recipe}"
    return runs


def assert_tensorboard_tags(logdir, recipe):
    """Read ``logdir``'s event folders back with tensorboard's EventAccumulator: each run the
    docs/command-line.md lists for ``recipe`` is there and holds every tag it lists."""
    import re

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for run, patterns in readme_tensorboard_tags(recipe).items():
        accumulator = EventAccumulator(str(Path(logdir) / run), size_guidance={"images": 0, "scalars": 0})
        accumulator.Reload()
        found = {tag for values in accumulator.Tags().values() if isinstance(values, list) for tag in values}
        for pattern in patterns:
            regex = re.sub(r"<\w+>", r"[\\w.-]+", re.escape(pattern).replace(r"\<", "<").replace(r"\>", ">"))
            assert any(re.fullmatch(regex, tag) for tag in found), (recipe, run, pattern, sorted(found))
