"""The tutorials' other figures: example errors (#02), improvement marks (#04), distorted images
(#06), PCA / t-SNE of transfer values (#08), and class images that stop at a threshold (#13)."""

import json

import numpy as np
import pytest

from cnn_cookbook import plots
from conftest import load_recipe


def _lines(fig):
    return [line for ax in fig.axes for line in ax.get_lines()]


def test_example_errors_show_only_misclassified_images_with_both_labels():
    rng = np.random.default_rng(0)
    images = rng.random((20, 28, 28, 1))
    labels = np.arange(20) % 10
    predictions = labels.copy()
    predictions[[3, 7, 11]] = [0, 0, 5]
    fig = plots.example_errors(images, labels, predictions, [str(i) for i in range(10)])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["True: 3, Pred: 0", "True: 7, Pred: 0", "True: 1, Pred: 5"]
    assert "(3 of 20)" in fig._suptitle.get_text()
    assert plots.example_errors(images, labels, labels, [str(i) for i in range(10)]) is None


def test_improvement_marks_fall_on_each_new_best():
    from cnn_cookbook.training import History

    history = History()
    values = [0.2, 0.5, 0.4, 0.5, 0.7, None, 0.6]
    for step, value in zip(range(100, 800, 100), values):
        history.log_eval(step, {} if value is None else {"validation_accuracy": value})
    fig = plots.improvement_marks(history)
    curve, marks = _lines(fig)
    best_so_far = np.maximum.accumulate([v if v is not None else -1 for v in values])
    expected = [s for i, s in enumerate(range(100, 800, 100))
                if values[i] is not None and (i == 0 or values[i] > best_so_far[i - 1])]
    assert list(marks.get_xdata()) == expected == [100, 200, 500]


def test_transfer_values_in_2d_keep_the_classes_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (3, 64)) * 4
    labels = np.repeat(np.arange(3), 20)
    values = centres[labels] + rng.normal(0, 1, (60, 64))
    for method in ("pca", "tsne"):
        points = plots.reduce_to_2d(values, method, seed=0)
        assert points.shape == (60, 2)
        # each point's nearest other point is of its own class
        distances = np.linalg.norm(points[:, None] - points[None], axis=-1) + np.eye(60) * 1e9
        assert np.mean(labels[np.argmin(distances, axis=1)] == labels) > 0.95, method
    fig = plots.transfer_values_scatter(points, labels, ["a", "b", "c"], title="t")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b", "c"]


def test_distorted_training_images_differ_and_the_first_is_the_test_crop():
    from cnn_cookbook.cifar10_cnn import build_distortion_examples, distorted_examples
    from cnn_cookbook.tf1 import new_session, tf

    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(1)
        examples = build_distortion_examples("hvass")
        with new_session(graph, "cpu") as session:
            shown = distorted_examples(session, examples, image, count=4)
    assert shown.shape == (5, 24, 24, 3) and shown.min() >= 0 and shown.max() <= 1
    np.testing.assert_allclose(shown[0], image[4:28, 4:28] / 255.0, atol=1e-6)  # central crop, undistorted
    assert all(not np.allclose(shown[0], shown[i]) for i in range(1, 5))
    assert not np.allclose(shown[1], shown[2])
    assert len(plots.distorted_grid(shown).axes) == 5


@pytest.fixture(scope="module")
def chain_run(mnist_dir, tmp_path_factory):
    """hvass-chain trained a little with early stopping: the MNIST chapter's figures and a checkpoint."""
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.mnist_cnn import train_mnist

    data = load_mnist("idx", mnist_dir)
    return train_mnist(data, "hvass-chain", tmp_path_factory.mktemp("chain"), device="cpu", progress=False,
                       steps=120, eval_every=40, learning_rate=2e-3, early_stopping=True)


def test_mnist_chapter_draws_example_errors_conv2_weights_and_improvement_marks(chain_run, capsys):
    figures = chain_run.figures
    assert {"example_errors", "conv1_weights", "conv2_weights", "validation_improvements"} <= set(figures)
    assert len(figures["conv2_weights"].axes) == 36  # one panel per conv2 filter
    assert chain_run.metrics["test_accuracy"] > 0.3  # chance is 0.1
    assert chain_run.metrics["hyperparameters"]["network"] == "hvass-chain"


def test_class_image_ascends_until_the_threshold_or_the_limit(chain_run, tmp_path, capsys):
    recipe = load_recipe("visualize_filters")
    common = ["--checkpoint-dir", str(chain_run.paths["checkpoints"]), "--class", "3", "--device", "cpu"]
    recipe.main(common + ["--threshold", "0.9", "--output-dir", str(tmp_path / "a")])
    (entry,) = json.loads((tmp_path / "a" / "metrics.json").read_text())["results"]
    assert entry["reached"] and entry["target_probability"] >= 0.9 and entry["steps_run"] < entry["step_limit"]
    assert entry["predicted_class"] == 3
    assert (tmp_path / "a" / "class_3.png").stat().st_size > (tmp_path / "a" / "class_3_image.png").stat().st_size
    assert "threshold 90% reached" in capsys.readouterr().out

    recipe.main(common + ["--threshold", "1.0", "--steps", "2", "--output-dir", str(tmp_path / "b")])
    (entry,) = json.loads((tmp_path / "b" / "metrics.json").read_text())["results"]
    assert not entry["reached"] and entry["steps_run"] == 2
    assert "not reached within 2 steps" in capsys.readouterr().out


def test_weights_and_activations_share_one_channel_grid():
    kernel = np.random.default_rng(1).normal(size=(5, 5, 2, 10))
    weights = plots.conv_weights(kernel, input_channel=1)
    outputs = plots.conv_outputs(kernel[:, :, 1, :])
    assert len(weights.axes) == len(outputs.axes) == 10
    # 10 channels: a 4x3 grid, in the same places for both
    assert [ax.get_subplotspec().get_geometry() for ax in weights.axes] == \
           [ax.get_subplotspec().get_geometry() for ax in outputs.axes]
    assert weights.axes[0].get_subplotspec().get_geometry()[:2] == (3, 4)
    limit = np.abs(kernel[:, :, 1, :]).max()
    for ax, index in zip(weights.axes, range(10)):  # weights: one symmetric scale for every filter
        image = ax.get_images()[0]
        assert image.get_clim() == (-limit, limit)
        np.testing.assert_array_equal(image.get_array(), kernel[:, :, 1, index])
    own = outputs.axes[3].get_images()[0]  # activations: each channel on its own scale
    assert own.get_clim() == (kernel[:, :, 1, 3].min(), kernel[:, :, 1, 3].max())
