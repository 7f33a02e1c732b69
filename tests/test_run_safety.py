"""Runs you can trust: checked checkpoints, resume with the whole history, damaged checkpoints,
early stopping's kept weights (issue 12)."""

import json

import numpy as np
import pytest

from conftest import run_recipe

IMAGES = np.random.default_rng(0).random((16, 28, 28, 1)).astype(np.float32)
LABELS = np.arange(16, dtype=np.int32) % 10


def _linear(rate):
    from cnn_cookbook import training
    from cnn_cookbook.mnist_cnn import MODELS, make_optimizer
    from cnn_cookbook.nets import get_network

    return training.build_classifier(get_network("linear"), (28, 28, 1), 10, make_optimizer(MODELS["linear"]), rate)


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
    assert (result.final_step, result.weights_step) == (50, 20)
    graph = tf.Graph()
    with graph.as_default():  # what a downstream recipe loads from checkpoints/
        net = _linear(0.5)
        weights = [v for v in tf.global_variables() if v.op.name == "linear/fc/weights"][0]
        with new_session(graph, "cpu") as session:
            path = training.Checkpoints(tmp_path / "ck").restore(session)
            assert path.endswith("model.ckpt-20") and int(session.run(net.global_step)) == 20
            np.testing.assert_array_equal(session.run(weights), snapshot["best"])
