"""The training loop and the MNIST recipe, end to end on small synthetic data."""

import json

import numpy as np
import pytest

from conftest import assert_one_line_error, assert_tensorboard_tags, run_in_process, run_recipe


def test_synthetic_digits_are_deterministic_and_balanced():
    from cnn_cookbook.datasets.synthetic import synthetic_digits

    a_images, a_labels = synthetic_digits(200, seed=5)
    b_images, b_labels = synthetic_digits(200, seed=5)
    c_images, _ = synthetic_digits(200, seed=6)
    np.testing.assert_array_equal(a_images, b_images)
    np.testing.assert_array_equal(a_labels, b_labels)
    assert not np.array_equal(a_images, c_images)
    assert np.bincount(a_labels, minlength=10).tolist() == [20] * 10
    # digits centred by mass in the 28x28 frame: no strokes on the border (faint noise only)
    for border in (a_images[:, :2], a_images[:, -2:], a_images[:, :, :2], a_images[:, :, -2:]):
        assert border.max() < 64
    assert a_images.dtype == np.uint8 and a_images.max() > 200


def _classifier(network="cookbook", rate=0.005):
    from cnn_cookbook import training
    from cnn_cookbook.mnist_cnn import MODELS
    from cnn_cookbook.nets import get_network

    return training.build_classifier(get_network(network), (28, 28, 1), 10,
                                     MODELS["cookbook"].optimizer_factory(), rate)


def test_one_optimiser_factory_builds_every_chapters_optimiser():
    from cnn_cookbook import training
    from cnn_cookbook.errors import CookbookError
    from cnn_cookbook.tf1 import tf

    with tf.Graph().as_default():
        momentum = training.optimizer_factory("momentum")(0.5)
        assert isinstance(momentum, tf.train.MomentumOptimizer) and momentum._momentum == 0.9
        assert training.make_optimizer("momentum", 0.5, momentum=0.25)._momentum == 0.25
        adam = training.make_optimizer("adam", 1e-3, beta1=0.5, name="SecondAdam")
        assert (adam._beta1, adam.get_name()) == (0.5, "SecondAdam")
        assert isinstance(training.make_optimizer("adamax", 0.1), training.AdamaxOptimizer)
        assert isinstance(training.make_optimizer("sgd", 0.1), tf.train.GradientDescentOptimizer)
    with pytest.raises(CookbookError, match="unknown optimiser 'rmsprop'") as refused:
        training.optimizer_factory("rmsprop")  # refused before any rate or graph exists
    assert refused.value.field == "optimizer"
    assert training.given({"steps": 0, "batch_size": None, "learning_rate": 0.5}) == {"steps": 0, "learning_rate": 0.5}


def test_learnable_and_restore_gives_identical_predictions(mnist_dir, tmp_path):
    from cnn_cookbook import training
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.tf1 import new_session, seed_everything, tf

    data = load_mnist("idx", mnist_dir)
    graph = tf.Graph()
    with graph.as_default():
        rng = seed_everything(0)
        net = _classifier()
        checkpoints = training.Checkpoints(tmp_path / "ck")
        with new_session(graph, "cpu") as session:
            checkpoints.start(session, resume=False)

            def feed():
                images, labels = data.validation.sample(100, rng)  # the larger split here
                return {net.images: images, net.labels: labels}

            training.fit(session, net, 150, feed=feed, checkpoints=checkpoints, progress=False)
            accuracy, before = training.evaluate_classifier(session, net, data.test.images, data.test.labels)
    assert accuracy > 0.8, f"synthetic digits should be learnable, got {accuracy:.3f}"
    graph = tf.Graph()
    with graph.as_default():
        net = _classifier()
        with new_session(graph, "cpu") as session:
            path = training.Checkpoints(tmp_path / "ck").restore(session)
            assert path.endswith("model.ckpt-150")
            # the same batch size as evaluate_classifier's: a different one changes the kernels'
            # summation order, which the CPU kernels of TF 1.15 show as last-bit differences
            after = training.predict_in_batches(session, net.probabilities, net.images, data.test.images, 1000)
    np.testing.assert_array_equal(before, after)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    from cnn_cookbook import training
    from cnn_cookbook.errors import TrainingDiverged
    from cnn_cookbook.tf1 import new_session, tf

    graph = tf.Graph()
    with graph.as_default():
        net = _classifier("linear", 0.5)
        checkpoints = training.Checkpoints(tmp_path / "ck")
        images = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32)
        labels = np.zeros(8, np.int32)
        step = {"n": 0}

        def feed():
            step["n"] += 1
            batch = images.copy()
            if step["n"] >= 6:
                batch[0, 0, 0, 0] = np.nan  # a corrupt input poisons the loss at step 6
            return {net.images: batch, net.labels: labels}

        with new_session(graph, "cpu") as session:
            checkpoints.start(session, resume=False)
            with pytest.raises(TrainingDiverged, match=r"loss became nan at step 6.*model.ckpt-4"):
                training.fit(session, net, 20, feed=feed, checkpoints=checkpoints, checkpoint_every=2,
                             progress=False)
    assert checkpoints.latest().endswith("model.ckpt-4")


def test_same_seed_same_run_on_cpu(mnist_dir, tmp_path):
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.mnist_cnn import train_mnist

    data = load_mnist("idx", mnist_dir)
    runs = [train_mnist(data, "cookbook", tmp_path / str(i), seed=7, device="cpu", progress=False,
                        steps=15, eval_every=5) for i in range(2)]
    assert runs[0].history.train["loss"] == runs[1].history.train["loss"]
    assert runs[0].metrics["test_accuracy"] == runs[1].metrics["test_accuracy"]


EXPECTED_PLOTS = {"loss.png", "accuracy.png", "predictions.png", "confusion_matrix.png",
                  "conv1_weights.png", "conv1_outputs.png", "conv2_outputs.png"}


def test_recipe_writes_metrics_plots_and_resumes(mnist_dir, tmp_path):
    out = tmp_path / "run"
    proc = run_recipe("mnist_cnn.py", "--dataset", "idx", "--data-dir", mnist_dir, "--output-dir", out,
                      "--steps", 20, "--eval-every", 10, "--checkpoint-every", 10, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["recipe"] == "mnist_cnn" and metrics["dataset"].startswith("idx:")
    assert metrics["steps"] == 20 and metrics["test_examples"] == 1000
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["images_per_second"] > 0
    assert metrics["train_seconds"] > 0
    assert EXPECTED_PLOTS <= {p.name for p in out.glob("*.png")}
    assert all((out / name).stat().st_size > 1000 for name in EXPECTED_PLOTS)
    assert_tensorboard_tags(out / "tensorboard", "mnist_cnn")  # train/ and eval/ runs
    assert (out / "checkpoints").is_dir()  # what the README's and the recipes' examples name

    proc = run_in_process("mnist_cnn.py", "--dataset", "idx", "--data-dir", mnist_dir, "--output-dir", out,
                          "--steps", 30, "--eval-every", 10, "--resume", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["resumed_from_step"], metrics["steps"], metrics["steps_this_run"]) == (20, 30, 10)
    history = json.loads((out / "history.json").read_text())
    assert history["train"]["step"] == list(range(1, 31))  # the whole run, not only this invocation
    assert history["evals"]["step"] == [10, 20, 30]

    # resuming a finished run: nothing to do; the run is reported again and left as it was
    before = {name: (out / name).read_bytes() for name in ("metrics.json", "history.json", "loss.png")}
    proc = run_in_process("mnist_cnn.py", "--dataset", "idx", "--data-dir", mnist_dir, "--output-dir", out,
                          "--steps", 30, "--resume", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "finished at step 30" in proc.stdout and "after 30 steps" in proc.stdout
    assert {name: (out / name).read_bytes() for name in before} == before

    # resuming with another network: one clear line, the checkpoints untouched
    before = sorted(p.name for p in (out / "checkpoints").iterdir())
    proc = run_in_process("mnist_cnn.py", "--dataset", "idx", "--data-dir", mnist_dir, "--output-dir", out,
                          "--model", "hvass-cnn", "--steps", 40, "--resume", "--no-progress")
    assert_one_line_error(proc, "different network", "checkpoint")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == before


def test_library_errors_speak_of_settings_not_flags(mnist_dir, tmp_path):
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.errors import CookbookError
    from cnn_cookbook.mnist_cnn import train_mnist

    data = load_mnist("idx", mnist_dir)
    with pytest.raises(CookbookError) as refused:  # refused before any graph is built
        train_mnist(data, "linear", tmp_path / "out", batch_size=len(data.train) + 1, progress=False)
    assert "batch size" in str(refused.value) and "--" not in str(refused.value)  # a notebook has no flags
    assert refused.value.field == "batch_size"


def test_recipe_bad_input_is_one_clear_line(mnist_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in mnist_dir.glob("*.gz"):
        (broken / path.name).write_bytes(path.read_bytes())
    from cnn_cookbook.datasets.idx import read_idx, write_idx
    labels = read_idx(broken / "t10k-labels-idx1-ubyte.gz")
    write_idx(broken / "t10k-labels-idx1-ubyte.gz", labels[:-1])  # one label short
    proc = run_in_process("mnist_cnn.py", "--dataset", "idx", "--data-dir", broken, "--steps", 1,
                          "--output-dir", tmp_path / "out")
    assert_one_line_error(proc, "1000 images", "999 labels")

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run_in_process("mnist_cnn.py", "--dataset", "idx", "--data-dir", mnist_dir, "--steps", 1,
                          "--output-dir", blocker / "out")
    assert_one_line_error(proc, "cannot create folder", "--output-dir")

    proc = run_in_process("mnist_cnn.py", "--device", "gpu", "--dataset", "idx", "--data-dir", mnist_dir,
                          "--steps", 1, "--output-dir", tmp_path / "gpu")
    from cnn_cookbook.tf1 import visible_gpus
    if visible_gpus():  # a GPU machine trains on it, and says so
        assert proc.returncode == 0, proc.stderr
        assert json.loads((tmp_path / "gpu" / "metrics.json").read_text())["device"] == "gpu"
    else:
        assert_one_line_error(proc, "no GPU", "(set with --device)")


def test_auto_uses_mnist_when_present_else_synthetic(mnist_dir, tmp_path, monkeypatch):
    from cnn_cookbook.datasets import mnist
    from cnn_cookbook.io import downloads
    from cnn_cookbook.errors import ChecksumError

    with pytest.raises(ChecksumError, match="expected sha256 440fcabf"):  # these are not MNIST's own files
        mnist.load_mnist("auto", mnist_dir)
    monkeypatch.setattr(downloads, "accept_checksum_mismatch", True)
    assert mnist.load_mnist("auto", mnist_dir).name == "mnist"
    monkeypatch.setitem(mnist.SYNTHETIC, "train", 5200)
    monkeypatch.setitem(mnist.SYNTHETIC, "test", 100)
    said = []
    data = mnist.load_mnist("auto", tmp_path / "empty", announce=said.append)
    assert data.name == "synthetic" and len(data.test) == 100
    assert len(said) == 2 and "using the embedded synthetic digits" in said[0]
    assert said[1].startswith("generating the synthetic digits (5200 train, 100 test)")  # not silent


def test_hvass_models_train_with_early_stopping_and_plot(mnist_dir, tmp_path):
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.mnist_cnn import train_mnist

    data = load_mnist("idx", mnist_dir)
    run = train_mnist(data, "hvass-cnn", tmp_path / "cnn", device="cpu", progress=False,
                      early_stopping=True, steps=30, eval_every=10, patience=10)
    assert run.metrics["best_step"] in (10, 20, 30) and (tmp_path / "cnn" / "best").is_dir()
    assert run.metrics["weights_step"] == run.metrics["best_step"]
    assert run.history.evals["validation_accuracy"] and {"conv1_weights", "conv2_outputs"} <= set(run.figures)
    run = train_mnist(data, "linear", tmp_path / "linear", device="cpu", progress=False, steps=20)
    assert "weights" in run.figures and run.metrics["hyperparameters"]["learning_rate"] == 0.5
