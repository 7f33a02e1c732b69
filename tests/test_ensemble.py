"""Hvass #05 ensemble: averaging, splits, and the recipe end to end on small synthetic data."""

import json

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax

from conftest import assert_one_line_error, assert_tensorboard_tags, run_in_process
from test_adversarial_recipes import write_small_mnist


def test_ensemble_is_the_mean_of_softmax_outputs_on_hand_made_logits():
    from cnn_cookbook.ensemble import mean_probabilities, softmax

    # net 0 is sure of class 1; nets 1 and 2 mildly prefer class 0.
    logits = np.array([[[0.0, 10.0, 0.0]], [[3.0, 0.0, 0.0]], [[3.0, 0.0, 0.0]]])
    probabilities = softmax(logits)
    np.testing.assert_allclose(probabilities, scipy_softmax(logits, axis=-1), rtol=1e-12)
    ensemble = mean_probabilities(probabilities)
    np.testing.assert_allclose(ensemble, scipy_softmax(logits, axis=-1).sum(axis=0) / 3, rtol=1e-12)
    np.testing.assert_allclose(ensemble.sum(axis=1), 1.0)
    # averaging probabilities is not averaging logits: the mean logits would pick class 1
    assert ensemble.argmax() == 0 and logits.mean(axis=0).argmax() == 1

    # two mild votes for class 1 lose to one confident vote for class 0 (not a majority vote)
    votes = softmax(np.array([[[8.0, 0.0]], [[0.0, 0.3]], [[0.0, 0.3]]]))
    assert mean_probabilities(votes).argmax() == 0 and np.bincount(votes.argmax(axis=2).ravel()).argmax() == 1


def test_comparison_with_the_best_network_finds_where_each_wins():
    from cnn_cookbook.ensemble import compare_with_best

    labels = np.array([0, 1, 2, 0])
    one_hot = np.eye(3)
    # net 0: right on images 0, 1, 2 (best, 75%); net 1: right on 0 and 3; net 2: right on 3 only
    net0 = one_hot[[0, 1, 2, 1]] * 0.6 + 0.4 / 3
    net1 = one_hot[[0, 2, 0, 0]] * 0.9 + 0.1 / 3
    net2 = one_hot[[1, 0, 1, 0]] * 0.9 + 0.1 / 3
    result = compare_with_best(np.stack([net0, net1, net2]), labels)
    np.testing.assert_allclose(result.network_accuracies, [0.75, 0.5, 0.25])
    assert result.best_network == 0
    expected = np.stack([net0, net1, net2]).mean(axis=0).argmax(axis=1)
    np.testing.assert_array_equal(result.ensemble_predictions, expected)
    assert result.ensemble_accuracy == pytest.approx(np.mean(expected == labels))
    np.testing.assert_array_equal(result.ensemble_better, (expected == labels) & (net0.argmax(1) != labels))
    np.testing.assert_array_equal(result.best_better, (expected != labels) & (net0.argmax(1) == labels))
    assert result.ensemble_better[3] and result.best_better.sum() >= 1  # both directions occur here


def test_random_splits_are_disjoint_complete_and_repeatable():
    from cnn_cookbook.ensemble import random_split
    from cnn_cookbook.errors import CookbookError

    train, validation = random_split(1000, 0.8, np.random.default_rng([7, 0]))
    assert len(train) == 800 and len(validation) == 200
    assert np.intersect1d(train, validation).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, validation])), np.arange(1000))
    again, _ = random_split(1000, 0.8, np.random.default_rng([7, 0]))
    other, _ = random_split(1000, 0.8, np.random.default_rng([7, 1]))
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, other)
    with pytest.raises(CookbookError, match="train fraction"):
        random_split(10, 1.0, np.random.default_rng(0))


def test_subset_data_pools_train_and_validation():
    from cnn_cookbook.datasets.mnist import MnistData, Split
    from cnn_cookbook.ensemble import random_split, subset_data

    def split(start, count):
        images = np.arange(start, start + count, dtype=np.float32).reshape(count, 1, 1, 1) * np.ones((1, 2, 2, 1))
        return Split(images.astype(np.float32), np.arange(start, start + count, dtype=np.int32) % 10)

    data = MnistData(split(0, 30), split(30, 20), split(100, 5), "toy")
    train, validation = random_split(50, 0.8, np.random.default_rng(1))
    subset = subset_data(data, train, validation)
    # images carry their pooled index: both parts came from train+validation, none twice
    seen = np.concatenate([subset.train.images[:, 0, 0, 0], subset.validation.images[:, 0, 0, 0]])
    np.testing.assert_array_equal(np.sort(seen), np.arange(50))
    np.testing.assert_array_equal(subset.train.labels, train % 10)
    assert subset.test is data.test


def test_ensemble_recipe_trains_checkpoints_and_reports(tmp_path):
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.ensemble import checkpoint_probabilities, train_ensemble
    from cnn_cookbook.errors import CookbookError

    out, mnist_dir = tmp_path / "ensemble", write_small_mnist(tmp_path)
    proc = run_in_process("mnist_ensemble.py", "--dataset", "idx", "--data-dir", mnist_dir, "--output-dir", out,
                          "--networks", "2", "--steps", "30", "--learning-rate", "1e-3", "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert {p.name for p in out.glob("*.png")} >= {"ensemble_accuracy.png"}
    for i in range(2):  # each network's own train/ and eval/ runs
        assert_tensorboard_tags(out / f"network{i}" / "tensorboard", "mnist_cnn")
    data = load_mnist("idx", mnist_dir)
    pooled = len(data.train) + len(data.validation)
    assert [n["validation_examples"] for n in metrics["networks"]] == [pooled - int(0.8 * pooled)] * 2
    assert metrics["test_examples"] == len(data.test)
    # the reported numbers are those of the saved checkpoints, recomputed independently here
    probabilities = np.stack([checkpoint_probabilities(n["checkpoint_dir"], data.test.images, device="cpu")
                              for n in metrics["networks"]])
    accuracies = (probabilities.argmax(axis=2) == data.test.labels).mean(axis=1)
    np.testing.assert_allclose(metrics["network_test_accuracies"], accuracies)
    assert metrics["ensemble_test_accuracy"] == pytest.approx(
        np.mean(probabilities.mean(axis=0).argmax(axis=1) == data.test.labels))
    assert min(accuracies) > 0.3  # 40 steps learn something (chance is 0.1)
    # --evaluate-only reuses the checkpoints and reproduces the numbers
    again = train_ensemble(data, 2, output_dir=out, device="cpu", train=False, announce=lambda *_: None)
    assert again.metrics["ensemble_test_accuracy"] == metrics["ensemble_test_accuracy"]
    assert [n["validation_accuracy"] for n in again.metrics["networks"]] == \
        [n["validation_accuracy"] for n in metrics["networks"]]
    # another seed would draw other splits: the held-out images would not be held out
    with pytest.raises(CookbookError, match="seed=0"):
        train_ensemble(data, 2, output_dir=out, seed=5, device="cpu", train=False, announce=lambda *_: None)
    # the same command again: the first ensemble (its networks too) moves aside whole, and with the
    # same seed every network trains to the same weights, so every number repeats (issue 12)
    proc = run_in_process("mnist_ensemble.py", "--dataset", "idx", "--data-dir", mnist_dir, "--output-dir", out,
                          "--networks", "2", "--steps", "30", "--learning-rate", "1e-3", "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (kept,) = (out / "previous-runs").iterdir()
    assert json.loads((kept / "metrics.json").read_text()) == metrics
    assert all((kept / f"network{i}" / "checkpoints" / "network.json").is_file() for i in range(2))
    rerun = json.loads((out / "metrics.json").read_text())
    for key in ("ensemble_test_accuracy", "network_test_accuracies"):
        assert rerun[key] == metrics[key], key
    assert [n["validation_accuracy"] for n in rerun["networks"]] == [n["validation_accuracy"] for n in metrics["networks"]]


def test_ensemble_recipe_rejects_a_bad_fraction_without_writing(tmp_path):
    out = tmp_path / "bad"
    proc = run_in_process("mnist_ensemble", "--dataset", "synthetic", "--output-dir", out, "--train-fraction", "1.5",
                          "--steps", "1")
    assert_one_line_error(proc, "train-fraction")
    assert not (out / "metrics.json").exists()
