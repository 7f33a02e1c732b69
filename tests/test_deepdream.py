"""DeepDream and network visualisation on stand-in graphs written by the tests (no network).

The stand-in GraphDef has inception5h's input name and several of its layer names, random
weights, and the real graph's naming (``<layer>/conv`` Conv2D, ``<layer>`` bias add).
"""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnn_cookbook import deepdream, graphs, visualize
from conftest import assert_one_line_error, assert_tensorboard_tags, load_recipe, run_in_process
from cnn_cookbook.errors import CookbookError, DataFormatError, MissingFileError
from cnn_cookbook.nets import inception5h, inception_v3
from cnn_cookbook.checkpoint_network import load_checkpoint_network
from cnn_cookbook.tf1 import new_session, tf

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [("conv2d0_pre_relu", 6), ("mixed3a_3x3_bottleneck_pre_relu", 8),
          ("mixed4d_3x3_bottleneck_pre_relu", 10)]
# every layer is 3x3, stride 1: the gradient at a pixel depends on inputs within 2 * 3 pixels
MARGIN = 2 * len(LAYERS)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception5h") / "stand_in.pb"
    graphs.write_graph_def(graphs.make_stand_in_graph_def(LAYERS, seed=1), path)
    return path


@pytest.fixture
def dream_setup(stand_in):
    graph = tf.Graph()
    with graph.as_default():
        network = inception5h.load_inception5h(stand_in)
        session = new_session(graph, "cpu")
        yield network, deepdream.Dreamer(session, network)
        session.close()


# ---------------------------------------------------------------------------------------------
# Loading


def test_load_graph_def_errors(tmp_path):
    with pytest.raises(MissingFileError, match="does not exist"):
        graphs.load_graph_def(tmp_path / "absent.pb")
    text = tmp_path / "page.pb"
    text.write_text("<html>404 not found</html>\n")
    with pytest.raises(DataFormatError, match="not a frozen TensorFlow GraphDef"):
        graphs.load_graph_def(text)
    archive = tmp_path / "inception5h.pb"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("tensorflow_inception_graph.pb", b"x")
    with pytest.raises(DataFormatError, match="extract it first"):
        graphs.load_graph_def(archive)


def test_layer_listing_channel_counts_and_lookup(dream_setup):
    network, _ = dream_setup
    assert network.describe_layers() == LAYERS
    assert network.tensor("mixed3a_3x3_bottleneck_pre_relu").name == "import/mixed3a_3x3_bottleneck_pre_relu:0"
    # the ReLU after a *_pre_relu layer is reachable by its inception5h name too
    assert network.tensor("mixed4d_3x3_bottleneck").op.type == "Relu"
    with pytest.raises(CookbookError, match="close matches: mixed4d_3x3_bottleneck_pre_relu"):
        network.tensor("mixed4d_3x3_botleneck_pre_relu")
    with pytest.raises(CookbookError, match="10 channels"):
        network.check_channel("mixed4d_3x3_bottleneck_pre_relu", 10)


def test_find_inception5h_extracts_the_zip_once(tmp_path, stand_in, monkeypatch):
    from cnn_cookbook.io import downloads

    monkeypatch.setattr(downloads, "accept_checksum_mismatch", True)  # a hand-made zip, not the published one
    with pytest.raises(MissingFileError, match="download it from"):
        inception5h.find_inception5h(tmp_path)
    with zipfile.ZipFile(tmp_path / "inception5h.zip", "w") as zf:
        zf.write(stand_in, inception5h.GRAPH_FILE)
        zf.writestr(inception5h.LABELS_FILE, "dummy\nkit fox\n")
    path = inception5h.find_inception5h(tmp_path)
    assert path == tmp_path / "inception5h" / inception5h.GRAPH_FILE
    assert inception5h.read_labels(path) == ["dummy", "kit fox"]
    (tmp_path / "inception5h.zip").unlink()  # already extracted: the archive is not needed again
    assert inception5h.find_inception5h(tmp_path) == path


# ---------------------------------------------------------------------------------------------
# Tiled gradients


@pytest.mark.parametrize("size,tile", [(600, 512), (700, 512), (64, 32), (30, 512), (1000, 400)])
def test_tiles_cover_the_whole_image(size, tile):
    covered = np.zeros((size, size + 7), int)
    for y0, y1, x0, x1 in deepdream.tile_boxes(size, size + 7, tile):
        covered[y0:y1, x0:x1] += 1
        assert y1 - y0 >= min(size, tile) / 2  # no sliver tiles
    assert (covered == 1).all()


def test_tiled_gradient_equals_untiled_away_from_tile_borders(dream_setup):
    network, dreamer = dream_setup
    score, _ = deepdream.layer_objective(network, "mixed4d_3x3_bottleneck_pre_relu", 4)
    objective = dreamer.objective(score)
    image = np.random.default_rng(0).uniform(0, 255, (64, 64, 3)).astype(np.float32)
    untiled, _ = dreamer.gradient(objective, image)
    shift = (5, 11)
    tiled, _ = dreamer.tiled_gradient(objective, image, tile_size=32, shift=shift)
    # borders in image coordinates: the tile edges (rolled back) and the roll's wrap-around seam
    near = np.zeros((64, 64), bool)
    for axis, s in enumerate(shift):
        # tile edges at rolled positions 0 and 32; the image's own edges (the seam) at rolled s
        for edge in (0, 32, s):
            position = (edge - s) % 64
            distance = np.abs((np.arange(64) - position + 32) % 64 - 32)
            index = distance <= MARGIN
            if axis == 0:
                near[index, :] = True
            else:
                near[:, index] = True
    assert (~near).sum() > 400
    assert np.allclose(tiled[~near], untiled[~near], rtol=1e-4, atol=1e-6 * np.abs(untiled).max())
    assert not np.allclose(tiled[near], untiled[near], rtol=1e-4, atol=1e-6 * np.abs(untiled).max())


def test_roll_is_undone_exactly(tmp_path):
    # a 1x1 convolution: each pixel's gradient depends on that pixel only, so tiling and
    # rolling change nothing if, and only if, the roll is undone exactly
    path = tmp_path / "pointwise.pb"
    graphs.write_graph_def(graphs.make_stand_in_graph_def([("conv2d0_pre_relu", 4, 1, 1)]), path)
    graph = tf.Graph()
    with graph.as_default(), new_session(graph, "cpu") as session:
        network = inception5h.load_inception5h(path)
        dreamer = deepdream.Dreamer(session, network)
        objective = dreamer.objective(deepdream.mean_square_score(network.tensor("conv2d0_pre_relu")))
        image = np.random.default_rng(1).uniform(0, 255, (48, 40, 3)).astype(np.float32)
        untiled, value = dreamer.gradient(objective, image)
        for shift in [(0, 0), (7, 3), (31, 30)]:
            tiled, tiled_value = dreamer.tiled_gradient(objective, image, tile_size=16, shift=shift)
            np.testing.assert_allclose(tiled, untiled, rtol=1e-5, atol=1e-7 * np.abs(untiled).max())
            assert tiled_value == pytest.approx(value, rel=1e-5)


@pytest.mark.parametrize("shape", [(64, 48, 3), (12, 10, 3)])
def test_gaussian_blur_op_matches_scipy(dream_setup, shape):
    from scipy.ndimage import gaussian_filter

    _, dreamer = dream_setup
    image = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    for sigma in (0.25, 1.3, 4.1, 8.2):
        np.testing.assert_allclose(dreamer.gaussian_blur(image, sigma), gaussian_filter(image, sigma),
                                   atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Renderers


SMALL = {
    "naive": dict(steps=6),
    "multiscale": dict(steps=4, octaves=2, tile_size=32),
    "lapnorm": dict(steps=4, octaves=2, tile_size=32, lap_levels=2),
    "deepdream": dict(steps=4, octaves=3, tile_size=32),
    "recursive": dict(steps=4, repeats=2, tile_size=32),
}


@pytest.mark.parametrize("renderer", sorted(SMALL))
def test_every_renderer_raises_the_objective(dream_setup, renderer):
    network, dreamer = dream_setup
    score, _ = deepdream.layer_objective(network, "mixed4d_3x3_bottleneck_pre_relu", 3)
    objective = dreamer.objective(score)
    image = deepdream.start_image("astronaut", max_size=64)[0]
    kwargs = dict(SMALL[renderer])
    if renderer != "naive":
        kwargs["rng"] = np.random.default_rng(0)
    result = deepdream.RENDERERS[renderer](dreamer, objective, image, **kwargs)
    before, after = dreamer.score(objective, image), dreamer.score(objective, result.image)
    assert after > before + 0.1 * abs(before)
    # and within the last octave, where the image size is fixed, it rises step by step overall
    last = [v for o, _, v in result.scores if o == result.scores[-1][0]]
    assert last[-1] > last[0]
    assert np.isfinite(result.image).all()


def test_graph_does_not_grow_while_rendering(dream_setup):
    network, dreamer = dream_setup
    score, _ = deepdream.combined_objective(network, ["conv2d0_pre_relu", "mixed4d_3x3_bottleneck_pre_relu"],
                                            [2, None])
    image = deepdream.noise_image(40, 40, rng=np.random.default_rng(0))
    counts = []
    for _ in range(10):
        objective = dreamer.objective(score)  # asking again returns the same ops
        for renderer in sorted(SMALL):  # every renderer
            settings = dict(SMALL[renderer], steps=1)
            if renderer != "naive":
                settings["rng"] = np.random.default_rng(0)
            deepdream.RENDERERS[renderer](dreamer, objective, image, **settings)
        counts.append(len(network.graph.get_operations()))
    assert counts[0] == counts[-1]


def test_sum_of_objectives_is_the_sum_of_the_parts(dream_setup):
    network, dreamer = dream_setup
    image = deepdream.noise_image(32, 32, rng=np.random.default_rng(2))
    parts = [deepdream.layer_objective(network, "conv2d0_pre_relu", 1)[0],
             deepdream.layer_objective(network, "mixed3a_3x3_bottleneck_pre_relu", None)[0]]
    total = deepdream.sum_scores(parts)
    values = [dreamer.score(dreamer.objective(s), image) for s in parts + [total]]
    assert values[2] == pytest.approx(values[0] + values[1], rel=1e-5)
    with pytest.raises(CookbookError, match="one channel for all layers") as error:
        deepdream.combined_objective(network, ["conv2d0_pre_relu"] * 3, [1, 2])
    assert error.value.fields == ("channel", "layer")  # the command line names their flags


# ---------------------------------------------------------------------------------------------
# Recipes


def test_deepdream_recipe_end_to_end(tmp_path, stand_in):
    out = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "recipes" / "deepdream.py"), "--graph", str(stand_in),
           "--max-size", "64", "--tile-size", "32", "--steps", "3", "--octaves", "2", "--channel", "5",
           "--output-dir", str(out), "--device", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["objective_after"] > metrics["objective_before"]
    assert metrics["objective"] == "mixed4d_3x3_bottleneck_pre_relu channel 5"
    assert len(metrics["scores"]) == 6
    for name in ("input.png", "dream.png", "scores.png"):
        assert (out / name).stat().st_size > 0
    assert_tensorboard_tags(out / "tensorboard", "deepdream")
    assert [line for line in done.stdout.splitlines() if line.startswith("octave ")] == [
        f"octave {o}: objective {metrics['scores'][3 * o + 2]['value']:.4f} after 3 steps" for o in (0, 1)]


def test_deepdream_recipe_lists_layers(stand_in):
    proc = run_in_process("deepdream", "--graph", stand_in, "--list-layers")
    assert proc.returncode == 0, proc.stderr
    assert "3 layers, 24 channels" in proc.stdout
    assert "mixed3a_3x3_bottleneck_pre_relu" in proc.stdout


@pytest.mark.parametrize("args,message", [
    (["--graph", "{tmp}/absent.pb"], "does not exist"),
    (["--graph", "{tmp}/text.pb"], "not a frozen TensorFlow GraphDef"),
    (["--graph", "{graph}", "--layer", "mixed4d_pre_relu"], "close matches"),
    (["--graph", "{graph}", "--channel", "99"], "out of range"),
    (["--graph", "{graph}", "--channel", "1", "--image", "{tmp}/text.pb"], "cannot read image"),
    (["--graph", "{graph}", "--channel", "1", "--max-size", "16", "--octaves", "12"], "too small for 12 octaves"),
    (["--weights", "real"], "inception5h.zip is not at"),
    (["--graph", "{graph}", "--layer", "conv2d0_pre_relu", "--layer", "conv2d0_pre_relu", "--channel", "1",
      "--channel", "2", "--channel", "3"], "one per layer (2 layers, 3 channels) (set with --channel and --layer)"),
])
def test_deepdream_recipe_bad_input(tmp_path, stand_in, monkeypatch, args, message):
    (tmp_path / "text.pb").write_text("not a graph")
    monkeypatch.setenv("CNN_COOKBOOK_MODELS", str(tmp_path / "models"))
    args = [a.format(tmp=tmp_path, graph=stand_in) for a in args]
    assert_one_line_error(run_in_process("deepdream", *args, "--output-dir", tmp_path / "out"), message)
    assert not (tmp_path / "out" / "metrics.json").exists()


# ---------------------------------------------------------------------------------------------
# Visualisation


@pytest.fixture(scope="module")
def mnist_checkpoint(tmp_path_factory, mnist_dir):
    """A checkpoint written by the MNIST recipe after a few steps on synthetic digits."""
    out = tmp_path_factory.mktemp("mnist")
    done = run_in_process("mnist_cnn", "--dataset", "idx", "--data-dir", mnist_dir, "--steps", "5", "--eval-every",
                          "5", "--eval-size", "50", "--no-progress", "--output-dir", out, "--device", "cpu")
    assert done.returncode == 0, done.stderr[-2000:]
    return out / "checkpoints"


def test_visualize_filters_recipe_on_mnist_checkpoint(tmp_path, mnist_checkpoint):
    out = tmp_path / "filters"
    proc = run_in_process("visualize_filters", "--checkpoint-dir", mnist_checkpoint, "--output-dir", out, "--steps",
                          "10", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["layer"] for r in metrics["results"]] == ["conv1", "conv2"]
    for result in metrics["results"]:
        assert result["filters"] == list(range(16))
        assert np.mean(result["activation_after"]) > np.mean(result["activation_before"])
        assert (out / f"stimuli_{result['layer']}.png").stat().st_size > 0
    assert_tensorboard_tags(out / "tensorboard", "visualize_filters")
    argv = ["--checkpoint", mnist_checkpoint, "--output-dir", tmp_path / "class", "--class", "3", "--steps", "3"]
    proc = run_in_process("visualize_filters", *argv)
    assert proc.returncode == 0, proc.stderr
    assert_tensorboard_tags(tmp_path / "class" / "tensorboard", "visualize_filters --class K")
    # the same command again (issue 12): the first run moves aside whole and, seeded, repeats exactly
    first = json.loads((tmp_path / "class" / "metrics.json").read_text())
    assert run_in_process("visualize_filters", *argv).returncode == 0
    (kept,) = (tmp_path / "class" / "previous-runs").iterdir()
    assert json.loads((kept / "metrics.json").read_text()) == first
    again = json.loads((tmp_path / "class" / "metrics.json").read_text())
    assert again["results"] == first["results"]


def test_class_and_channel_maximisation_on_mnist_checkpoint(mnist_checkpoint):
    graph = tf.Graph()
    with graph.as_default():
        network = load_checkpoint_network(mnist_checkpoint)
        score = visualize.class_score(network, 3)
        with new_session(graph, "cpu") as session:
            network.restore(session)
            # a channel alive on grey images (after 5 steps some ReLUs are still dead there)
            grey = np.full((1, 28, 28, 1), 0.5, np.float32)
            alive = int(np.argmax(session.run(network.tensor("conv2"), {network.images: grey}).mean(axis=(0, 1, 2))))
            channel, _ = deepdream.layer_objective(network, "conv2", alive)
            count = len(graph.get_operations())
            for target in (score, channel):
                gradient = tf.gradients(target, network.images)[0]
                result = visualize.maximize_activation(session, network, target, steps=15,
                                                       rng=np.random.default_rng(0), gradient=gradient)
                assert result.scores[-1] > result.scores[0]
                assert result.image.shape == (28, 28, 1)
                assert result.image.min() >= 0.0 and result.image.max() <= 1.0
            assert len(graph.get_operations()) > count  # (the gradients above) ...
            count = len(graph.get_operations())
            visualize.maximize_activation(session, network, score, steps=2, gradient=gradient)
            assert len(graph.get_operations()) == count  # ... but the ascent itself adds none
        with pytest.raises(CookbookError, match="out of range"):
            visualize.class_score(network, 10)


def test_maximum_stimuli_batched_equals_one_by_one(dream_setup):
    network, dreamer = dream_setup
    ops = visualize.StimulusOps(network, "mixed3a_3x3_bottleneck_pre_relu")
    together = visualize.maximum_stimuli(dreamer.session, network, "mixed3a_3x3_bottleneck_pre_relu", [0, 3, 5],
                                         steps=5, image_size=(24, 24), rng=np.random.default_rng(4), ops=ops)
    assert (together.after > together.before).all()
    assert together.display.shape == (3, 24, 24, 3)
    assert together.display.min() >= 0 and together.display.max() <= 255
    network.batch_size = 1  # a graph frozen for single images: the same results, one at a time
    single = visualize.maximum_stimuli(dreamer.session, network, "mixed3a_3x3_bottleneck_pre_relu", [0, 3, 5],
                                       steps=5, image_size=(24, 24), rng=np.random.default_rng(4), ops=ops)
    np.testing.assert_allclose(single.images, together.images, rtol=1e-4, atol=1e-3)
    with pytest.raises(CookbookError, match="out of range"):
        visualize.maximum_stimuli(dreamer.session, network, "mixed3a_3x3_bottleneck_pre_relu", [8], ops=ops)


def test_inception_v3_view_on_a_stand_in(tmp_path):
    path = tmp_path / "classify_image_graph_def.pb"
    graphs.write_graph_def(graphs.make_stand_in_graph_def([("conv", 4), ("mixed_10/tower_2/conv", 6)],
                                                          input_name="ResizeBilinear"), path)
    graph = tf.Graph()
    with graph.as_default():
        network = inception_v3.load_inception_v3(path)
        assert network.describe_layers() == [("conv", 4), ("mixed_10/tower_2/conv", 6)]
        assert network.batch_size == 1 and network.image_size == (299, 299)
        with pytest.raises(CookbookError, match="no logits"):
            visualize.class_score(network, 1)
    with tf.Graph().as_default(), pytest.raises(CookbookError, match="not Inception v3"):
        inception_v3.load_inception_v3(graphs.write_graph_def(graphs.make_stand_in_graph_def([("c", 2)]),
                                                           tmp_path / "other.pb"))


def test_visualize_filters_bad_checkpoint_dir(tmp_path):
    assert_one_line_error(run_in_process("visualize_filters", "--checkpoint-dir", tmp_path / "none", "--output-dir",
                                         tmp_path / "o"), "train a network first")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_in_process("visualize_filters", "--checkpoint-dir", tmp_path / "empty", "--output-dir",
                                         tmp_path / "o"), "network.json")



def test_deepdream_same_seed_twice_repeats_and_the_earlier_run_is_kept_whole(tmp_path, stand_in, capsys):
    """Issue 12: the tile shifts come from the seed, so two runs agree exactly; the second run
    first moves the first one (images, plot, metrics, events) aside as a unit."""
    from test_stylenet import run_twice

    recipe = load_recipe("deepdream")
    assert (recipe.DEFAULT_LAYER, recipe.DEFAULT_CHANNEL) == (deepdream.DEFAULT_LAYER, deepdream.DEFAULT_CHANNEL)
    out = tmp_path / "run"
    argv = ["--graph", str(stand_in), "--channel", "4", "--max-size", "48", "--tile-size", "16", "--steps", "2",
            "--octaves", "2", "--seed", "5", "--output-dir", str(out), "--device", "cpu", "--no-progress"]
    first, second = run_twice(recipe.main, argv, out, capsys, "input.png", "dream.png", "scores.png")
    assert first["scores"] == second["scores"] and first["objective_after"] == second["objective_after"]
    events = tmp_path / "events"  # a --summaries-dir outside the output folder: its events move too
    assert recipe.main(argv + ["--summaries-dir", str(events)]) == 0
    assert recipe.main(argv + ["--summaries-dir", str(events)]) == 0
    (kept_events,) = (events / "previous-runs").iterdir()
    assert (kept_events / "train").is_dir() and len(list((events / "train").iterdir())) == 1


def test_dream_settings_speak_one_language_for_every_renderer():
    given = dict(steps=3, step_size=2.0, octaves=4, octave_scale=2.0, tile_size=64)
    assert deepdream.DreamSettings("recursive", **given).renderer_kwargs() == dict(
        steps=3, step_size=2.0, repeats=3, rescale_factor=0.5, tile_size=64)
    assert deepdream.DreamSettings("naive", **given).renderer_kwargs() == dict(steps=3, step_size=2.0)
    assert deepdream.DreamSettings("lapnorm", steps=3).renderer_kwargs() == dict(steps=3)
    resolved = deepdream.DreamSettings("deepdream", octaves=2).resolved()
    assert resolved["octaves"] == 2 and resolved["octave_scale"] == 1.4  # render_deepdream's own default
    assert deepdream.total_steps("recursive", deepdream.DreamSettings("recursive", **given).renderer_kwargs()) == 12
