"""The offline stand-ins of StyleNet (VGG-19 .mat) and DeepDream (inception5h GraphDef).

Both recipes run end to end from a fresh models folder, with no download: the stand-in is
generated with the real file's layer names and shapes, read back by the real loaders, and every
output (console, metrics.json, plot titles) says STAND-IN.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from cnn_cookbook.nets import inception5h, vgg19

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from conftest import load_recipe  # noqa: E402


def saved_titles(fig):
    return " ".join([fig._suptitle.get_text() if fig._suptitle else ""] +
                    [ax.get_title() for ax in fig.axes])


@pytest.fixture
def fresh_models(tmp_path, monkeypatch):
    models = tmp_path / "models"
    monkeypatch.setenv("CNN_COOKBOOK_MODELS", str(models))
    return models


def capture_figures(monkeypatch, module):
    """Record the Figures a recipe hands to plots.finish (their titles are checked)."""
    from cnn_cookbook import plots

    seen = {}
    real_finish = plots.finish

    def finish(figures, output_dir, show=False):
        seen.update(figures)
        return real_finish(figures, output_dir, show)

    monkeypatch.setattr(plots, "finish", finish)
    return seen


def test_vgg19_stand_in_has_the_real_layers_and_is_deterministic(tmp_path):
    network = vgg19.load_vgg19_mat(vgg19.write_stand_in_mat(tmp_path / "a.mat"))
    assert network.stand_in and network.layer_names == vgg19.VGG19_LAYERS
    shapes = {layer.name: layer.kernel.shape for layer in network.layers if layer.kind == "conv"}
    assert shapes["conv1_1"] == (3, 3, 3, 64) and shapes["conv3_4"] == (3, 3, 256, 256)
    assert shapes["conv5_4"] == (3, 3, 512, 512) and len(shapes) == 16
    np.testing.assert_allclose(network.mean_pixel, vgg19.VGG19_MEAN_PIXEL, rtol=1e-6)
    again = vgg19.stand_in_layers(seed=0)
    np.testing.assert_array_equal(again[0].kernel, network.layers[0].kernel)
    assert any("STAND-IN" in note for note in network.notes)


def test_stylenet_recipe_runs_offline_on_the_stand_in(tmp_path, capsys, monkeypatch):
    # the session's default models folder (conftest): the ~80 MB stand-in is generated once per run
    models = Path(os.environ["CNN_COOKBOOK_MODELS"])
    recipe = load_recipe("stylenet")
    figures = capture_figures(monkeypatch, recipe)
    out = tmp_path / "run"
    assert recipe.main(["--max-size", "32", "--steps", "3", "--output-dir", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "STAND-IN" in printed and (models / vgg19.STAND_IN_FOLDER / vgg19.FILENAME).is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stand_in"] is True and "STAND-IN" in metrics["network_label"]
    assert metrics["final_loss"] < metrics["initial_loss"]
    assert (out / "stylized.png").is_file() and (out / "losses.png").is_file()
    assert set(figures) == {"losses", "images"}
    assert all("STAND-IN" in saved_titles(fig) for fig in figures.values())


def test_deepdream_recipe_runs_offline_on_the_stand_in(tmp_path, fresh_models, capsys, monkeypatch):
    recipe = load_recipe("deepdream")
    figures = capture_figures(monkeypatch, recipe)
    out = tmp_path / "run"
    assert recipe.main(["--max-size", "48", "--steps", "2", "--octaves", "2", "--output-dir", str(out),
                        "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("STAND-IN") >= 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stand_in"] is True and "STAND-IN" in metrics["network"]
    assert metrics["objective"] == "mixed4d_3x3_bottleneck_pre_relu channel 30"
    assert metrics["objective_after"] > metrics["objective_before"]
    assert "STAND-IN" in saved_titles(figures["scores"])
    # the generated graph is kept and reused: a second call finds the same file
    path, stand_in = inception5h.locate_inception5h()
    assert stand_in and path == Path(metrics["graph"])


def test_inception5h_stand_in_lists_the_real_layers(tmp_path, fresh_models, capsys):
    status = load_recipe("deepdream").main(["--weights", "stand-in", "--list-layers"])
    out = capsys.readouterr().out
    assert status == 0 and "59 layers, 7548 channels" in out
    for name in ("conv2d0_pre_relu", "mixed3a_5x5_bottleneck_pre_relu", "mixed4d_3x3_bottleneck_pre_relu",
                 "mixed5b_pool_reduce_pre_relu", "head1_bottleneck_pre_relu"):
        assert name in out
