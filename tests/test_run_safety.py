"""Runs you can trust: checked checkpoints, resume with the whole history, damaged checkpoints,
early stopping's kept weights (issue 12)."""

import json

import numpy as np
import pytest

from conftest import assert_one_line_error, load_recipe, run_in_process, run_recipe

IMAGES = np.random.default_rng(0).random((16, 28, 28, 1)).astype(np.float32)
LABELS = np.arange(16, dtype=np.int32) % 10


def _linear(rate):
    from cnn_cookbook import training
    from cnn_cookbook.mnist_cnn import MODELS
    from cnn_cookbook.nets import get_network

    return training.build_classifier(get_network("linear"), (28, 28, 1), 10, MODELS["linear"].optimizer_factory(), rate)


def _feed(net):
    return lambda: {net.images: IMAGES, net.labels: LABELS}


@pytest.mark.parametrize("bad_rate, named", [
    (float("nan"), 2),  # update 4 makes the weights NaN while step 4's loss is still finite
    (1e38, 3),          # update 4 leaves huge but finite weights; they give a NaN loss at step 5
])
def test_divergence_names_a_checkpoint_that_resumes_to_finite_losses(tmp_path, bad_rate, named):
    from cnn_cookbook import training
    from cnn_cookbook.errors import TrainingDiverged
    from cnn_cookbook.tf1 import new_session, tf

    every = 2 if np.isnan(bad_rate) else 1
    graph = tf.Graph()
    with graph.as_default():
        net = _linear(lambda step: tf.where(step >= 3, bad_rate, 0.5))  # updates 4, 5, ... go wrong
        checkpoints = training.Checkpoints(tmp_path / "ck")
        with new_session(graph, "cpu") as session:
            checkpoints.start(session, resume=False)
            with pytest.raises(TrainingDiverged) as diverged:
                training.fit(session, net, 20, feed=_feed(net), checkpoints=checkpoints,
                             checkpoint_every=every, progress=False)
    assert f"model.ckpt-{named}" in str(diverged.value)
    assert checkpoints.latest().endswith(f"model.ckpt-{named}")
    graph = tf.Graph()
    with graph.as_default():
        net = _linear(0.5)
        checkpoints = training.Checkpoints(tmp_path / "ck")
        with new_session(graph, "cpu") as session:
            start = checkpoints.start(session, resume=True)
            result = training.fit(session, net, start + 5, start_step=start, feed=_feed(net),
                                  checkpoints=checkpoints, progress=False)
    assert start == named and np.all(np.isfinite(result.history.train["loss"][-5:]))
    assert result.history.train["step"] == list(range(1, named + 6))  # the saved history carried on


def test_resume_skips_damaged_checkpoints_and_says_why(tmp_path):
    from cnn_cookbook import training
    from cnn_cookbook.errors import CookbookError
    from cnn_cookbook.tf1 import new_session, tf

    folder = tmp_path / "ck"

    def session_with_checkpoints(train_to=None):
        graph = tf.Graph()
        with graph.as_default():
            net = _linear(0.5)
            checkpoints = training.Checkpoints(folder)
            session = new_session(graph, "cpu")
            said = []
            start = checkpoints.start(session, resume=train_to is None, announce=said.append)
            if train_to:
                training.fit(session, net, train_to, feed=_feed(net), checkpoints=checkpoints,
                             checkpoint_every=2, progress=False)
            session.close()
        return start, said

    session_with_checkpoints(train_to=6)  # model.ckpt-2, -4, -6
    (folder / "model.ckpt-6.index").unlink()
    data = next(folder.glob("model.ckpt-4.data-*"))
    data.write_bytes(data.read_bytes()[:len(data.read_bytes()) // 2])
    start, said = session_with_checkpoints()
    assert start == 2
    report = " ".join(said)
    assert "model.ckpt-6 (its .index file is missing)" in report and "model.ckpt-4 (it is damaged" in report
    data = next(folder.glob("model.ckpt-2.data-*"))
    data.write_bytes(b"")
    with pytest.raises(CookbookError, match=r"no checkpoint in .* restores: model.ckpt-6: .*model.ckpt-2: it is damaged"):
        session_with_checkpoints()


def test_early_stopping_leaves_the_best_weights_as_the_newest_checkpoint(tmp_path):
    from cnn_cookbook import training
    from cnn_cookbook.tf1 import new_session, tf

    graph = tf.Graph()
    with graph.as_default():
        net = _linear(0.5)
        weights = [v for v in tf.global_variables() if v.op.name == "linear/fc/weights"][0]
        scores = iter([0.5, 0.9, 0.8, 0.7, 0.6])  # best at step 20, stop at 50
        snapshot = {}

        def evaluate(session):
            value = next(scores)
            if value == 0.9:
                snapshot["best"] = session.run(weights)
            return {"validation_accuracy": value}

        with new_session(graph, "cpu") as session:
            checkpoints = training.Checkpoints(tmp_path / "ck")
            checkpoints.start(session, resume=False)
            stopper = training.EarlyStopping("validation_accuracy", patience=30,
                                             best_checkpoints=training.Checkpoints(tmp_path / "best"))
            result = training.fit(session, net, 1000, feed=_feed(net), evaluate=evaluate, eval_every=10,
                                  checkpoints=checkpoints, checkpoint_every=10, early_stopping=stopper,
                                  progress=False)
            in_session = session.run(weights)  # fit restored the best weights into the session too
    assert result.stopped_early and (result.final_step, result.best_step, result.weights_step) == (50, 20, 20)
    np.testing.assert_array_equal(in_session, snapshot["best"])
    graph = tf.Graph()
    with graph.as_default():  # what a downstream recipe loads from checkpoints/
        net = _linear(0.5)
        weights = [v for v in tf.global_variables() if v.op.name == "linear/fc/weights"][0]
        with new_session(graph, "cpu") as session:
            path = training.Checkpoints(tmp_path / "ck").restore(session)
            assert path.endswith("model.ckpt-20") and int(session.run(net.global_step)) == 20
            np.testing.assert_array_equal(session.run(weights), snapshot["best"])


def _latest_step(folder):
    from cnn_cookbook.run_folder import _STATE_LINE

    state = folder / "checkpoints" / "checkpoint"
    if not state.is_file():
        return None
    first = _STATE_LINE.match(state.read_text().splitlines()[0])
    return int(first.group(2).rsplit("-", 1)[1])


def _wait_for(condition, proc, timeout=120):
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_one_run_per_folder_and_no_step_lost_to_sigkill_or_sigterm(mnist_dir, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from conftest import REPO, assert_one_line_error

    out = tmp_path / "run"
    args = ["--model", "linear", "--dataset", "idx", "--data-dir", str(mnist_dir), "--output-dir", str(out),
            "--checkpoint-every", "20", "--no-progress"]
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")

    def start(*more):
        return subprocess.Popen([sys.executable, str(REPO / "recipes" / "mnist_cnn.py"), *args, *more],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    first = start("--steps", "1000000")
    _wait_for(lambda: (_latest_step(out) or 0) >= 40, first)
    # a second run into the same folder stops at once, naming the holder; nothing of the first moves
    second = run_recipe("mnist_cnn.py", "--dataset", "idx", "--data-dir", mnist_dir, "--output-dir", out,
                        "--steps", 5, timeout=60)
    assert_one_line_error(second, "in use by another run", f"process {first.pid}")
    assert not (out / "previous-runs").exists()
    first.kill()  # SIGKILL: no handler runs; the lock goes with the process
    first.communicate()
    killed_at = _latest_step(out)

    resumed = start("--steps", "1000000", "--resume")
    _wait_for(lambda: _latest_step(out) > killed_at + 40, resumed)
    resumed.send_signal(signal.SIGTERM)
    stdout, stderr = resumed.communicate(timeout=60)
    assert resumed.returncode == 128 + signal.SIGTERM, stderr
    assert f"resuming from model.ckpt-{killed_at} (step {killed_at})" in stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: SIGTERM received; stopped after step"), stderr
    stopped_at = _latest_step(out)
    assert f"checkpoint model.ckpt-{stopped_at} saved" in lines[0]

    # the history saved with the checkpoints has every step once: none lost to the kill or the stop
    history = json.loads((out / "checkpoints" / "history.json").read_text())
    assert history["train"]["step"] == list(range(1, stopped_at + 1))


def test_a_fresh_run_moves_the_earlier_one_aside_whole_and_it_stays_usable(mnist_dir, tmp_path):
    from cnn_cookbook import cli, run_folder
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.mnist_cnn import train_mnist
    from cnn_cookbook.tf1 import new_session, tf
    from cnn_cookbook.checkpoint_network import load_checkpoint_network

    data = load_mnist("idx", mnist_dir)
    out = tmp_path / "run"
    for model in ("linear", "cookbook"):  # the same step numbers: a kept run must not load the new one
        run = train_mnist(data, model, out, device="cpu", progress=False, steps=20, eval_every=10,
                          checkpoint_every=10)
        cli.write_outputs(out, run.metrics, run.history, run.figures)
    kept, = (out / run_folder.PREVIOUS).iterdir()
    assert {"weights.png", "metrics.json", "history.json", "checkpoints", "tensorboard"} <= {p.name for p in kept.iterdir()}
    assert json.loads((kept / "metrics.json").read_text())["model"] == "linear"
    assert not (out / "weights.png").exists() and (out / "conv1_weights.png").exists()
    for run in (out / "tensorboard").iterdir():  # train/, eval/: this run's events only
        assert len(list(run.glob("events.*"))) == 1, run
    assert list((kept / "tensorboard").rglob("events.*"))  # the kept run keeps its own
    assert str(tmp_path) not in (kept / "checkpoints" / "checkpoint").read_text()
    graph = tf.Graph()
    with graph.as_default():
        network = load_checkpoint_network(kept / "checkpoints")
        weights = [v for v in tf.global_variables() if v.op.name == "linear/fc/weights"][0]
        with new_session(graph, "cpu") as session:
            path = network.restore(session)
            assert path.startswith(str(kept))
            np.testing.assert_array_equal(session.run(weights), tf.train.load_variable(path, "linear/fc/weights"))
    for _ in range(run_folder.KEEP + 1):  # only the newest KEEP earlier runs stay
        (out / "metrics.json").write_text("{}")
        run_folder.move_aside(out)
    assert len(list((out / run_folder.PREVIOUS).iterdir())) == run_folder.KEEP


def test_disk_faults_end_in_one_line_and_keep_what_was_written(mnist_dir, tmp_path, monkeypatch):
    import errno

    import matplotlib.figure

    from cnn_cookbook.tf1 import tf

    main = load_recipe("mnist_cnn").main
    out = tmp_path / "run"
    args = ["--model", "linear", "--dataset", "idx", "--data-dir", str(mnist_dir), "--output-dir", str(out),
            "--checkpoint-every", "5", "--eval-every", "5", "--no-progress"]
    save = tf.train.Saver.save

    def full_from_step_10(self, session, prefix, global_step=None, **kwargs):
        if global_step >= 10:
            raise tf.errors.ResourceExhaustedError(None, None, f"{prefix}-{global_step}.data: No space left on device")
        return save(self, session, prefix, global_step=global_step, **kwargs)

    with monkeypatch.context() as patch:  # the disk fills up during the checkpoint of step 10
        patch.setattr(tf.train.Saver, "save", full_from_step_10)
        assert_one_line_error(run_in_process("mnist_cnn", *args, "--steps", "20"), "cannot write checkpoint",
                              "model.ckpt-10", "free disk space")
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("model.ckpt-5")
    main([*args, "--steps", "20", "--resume"])  # space freed: the run continues from step 5
    assert json.loads((out / "history.json").read_text())["train"]["step"] == list(range(1, 21))

    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def no_space(self, path, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with monkeypatch.context() as patch:  # ... and during the plots of a longer run
        patch.setattr(matplotlib.figure.Figure, "savefig", no_space)
        assert_one_line_error(run_in_process("mnist_cnn", *args, "--steps", "25", "--resume"), "cannot write",
                              ".png", "No space left on device")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # no half-written file

    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "tensorboard").write_text("a file where the events folder should be")
    assert_one_line_error(run_in_process("mnist_cnn", *args[:-3], "--output-dir", blocked, "--steps", "5"),
                          "tensorboard")
    assert not (blocked / "checkpoints").exists()  # stopped at the start, not after training


def test_an_unreadable_input_file_is_one_line(mnist_dir, tmp_path, monkeypatch):
    import builtins
    import errno
    import io

    real_open = io.open

    def denied(file, *args, **kwargs):  # what root cannot get from chmod: a file this user may not read
        if str(file).endswith(("t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte")):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    monkeypatch.setattr(io, "open", denied)
    assert_one_line_error(run_in_process("mnist_cnn", "--dataset", "idx", "--data-dir", mnist_dir, "--output-dir",
                                         tmp_path / "run", "--steps", "1"),
                          "t10k-labels", "Permission denied", "fix its permissions")
