"""Hvass #15: VGG-16 read from a vgg16.tfmodel-style GraphDef, shared style-transfer code.

The test graph has the published model's structure (an 'images' placeholder for 0..1 RGB, scaling
by 255, RGB->BGR, mean subtraction, 13 conv layers whose ReLU outputs are named like Hvass's
'conv1_1/conv1_1', max pools, fc6-fc8 with a fixed 224x224 reshape, softmax 'prob') with few
channels.
"""

import json

import numpy as np
import pytest

from cnn_cookbook.errors import DataFormatError
from cnn_cookbook.nets.vgg16 import load_vgg16_graph
from conftest import load_recipe

BGR_MEAN = (103.939, 116.779, 123.68)
WIDTHS = (4, 4, 6, 6, 8)


def build_vgg16_graph(tf, rng, widths=WIDTHS, with_images=True, old_concat=False):
    images = tf.placeholder(tf.float32, [None, 224, 224, 3], name="images" if with_images else "input")
    red, green, blue = tf.split(images * 255.0, 3, axis=3)
    bgr = [blue - BGR_MEAN[0], green - BGR_MEAN[1], red - BGR_MEAN[2]]
    # the published file was written by TensorFlow 0.x, whose Concat takes the axis first
    net = tf.raw_ops.Concat(concat_dim=3, values=bgr) if old_concat else tf.concat(bgr, axis=3)
    channels = 3
    for block, count in enumerate((2, 2, 3, 3, 3), 1):
        for index in range(1, count + 1):
            name = f"conv{block}_{index}"
            with tf.name_scope(name):
                out = widths[block - 1]
                kernel = tf.constant(rng.normal(0, np.sqrt(2 / (9 * channels)), (3, 3, channels, out)),
                                     tf.float32, name="filter")
                bias = tf.constant(rng.normal(0, 0.1, out), tf.float32, name="biases")
                conv = tf.nn.conv2d(net, kernel, [1, 1, 1, 1], "SAME")
                net = tf.nn.relu(tf.nn.bias_add(conv, bias), name=name)
            channels = out
        net = tf.nn.max_pool(net, [1, 2, 2, 1], [1, 2, 2, 1], "SAME", name=f"pool{block}")
    flat = tf.reshape(net, [-1, 7 * 7 * channels])
    fc6 = tf.nn.relu(tf.matmul(flat, tf.constant(rng.normal(0, 0.01, (7 * 7 * channels, 10)), tf.float32)))
    tf.nn.softmax(tf.matmul(fc6, tf.constant(rng.normal(0, 0.1, (10, 5)), tf.float32)), name="prob")
    return images


@pytest.fixture(scope="module")
def vgg16_file(tmp_path_factory):
    from cnn_cookbook.tf1 import tf

    graph = tf.Graph()
    with graph.as_default():
        build_vgg16_graph(tf, np.random.default_rng(0))
    path = tmp_path_factory.mktemp("vgg16") / "vgg16.tfmodel"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def test_layers_preprocessing_and_features_match_the_graph(vgg16_file, monkeypatch):
    from cnn_cookbook.tf1 import tf

    def no_session(*args, **kwargs):
        raise AssertionError("a loader opened a Session")

    with monkeypatch.context() as patch:  # a loader reads files and opens no Session
        patch.setattr(tf, "Session", no_session)
        network = load_vgg16_graph(vgg16_file)
    convs = [name for name in network.layer_names if name.startswith("conv")]
    assert len(convs) == 13 and convs[0] == "conv1_1" and convs[-1] == "conv5_3"
    assert network.layer_names[-1] == "relu5_3" and "pool4" in network.layer_names
    np.testing.assert_allclose(network.mean_pixel, BGR_MEAN[::-1], rtol=1e-4)
    assert "expects 'images' in 0..1" in network.notes[0]

    pixels = np.random.default_rng(1).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    graph_def = tf.GraphDef()
    graph_def.ParseFromString(vgg16_file.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
        ours = network.stack()(tf.constant(pixels), last_layer="relu4_1")
    with tf.Session(graph=graph) as session:
        theirs, mine = session.run([graph.get_tensor_by_name("conv4_1/conv4_1:0"), ours["relu4_1"]],
                                   {"images:0": pixels / 255.0})
    np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-3 * np.abs(theirs).max())


def test_the_old_concat_op_gives_the_same_input_map(tmp_path, vgg16_file):
    from cnn_cookbook.tf1 import tf

    graph = tf.Graph()
    with graph.as_default():
        build_vgg16_graph(tf, np.random.default_rng(0), old_concat=True)
    assert "Concat" in {node.op for node in graph.as_graph_def().node}
    (tmp_path / "old.tfmodel").write_bytes(graph.as_graph_def().SerializeToString())
    old, new = load_vgg16_graph(tmp_path / "old.tfmodel"), load_vgg16_graph(vgg16_file)
    np.testing.assert_allclose(old.input_matrix, new.input_matrix)
    np.testing.assert_allclose(old.input_offset, new.input_offset)
    # RGB 0..255 -> BGR minus the mean: the matrix swaps red and blue and keeps the scale
    np.testing.assert_allclose(old.input_matrix, np.eye(3)[::-1], atol=1e-6)


def test_broken_and_foreign_graphs_are_refused(tmp_path):
    from cnn_cookbook.tf1 import tf

    (tmp_path / "junk.tfmodel").write_bytes(b"\xff\x00 definitely not a protobuf" * 50)
    with pytest.raises(DataFormatError, match="not a TensorFlow GraphDef"):
        load_vgg16_graph(tmp_path / "junk.tfmodel")
    graph = tf.Graph()
    with graph.as_default():
        build_vgg16_graph(tf, np.random.default_rng(2), with_images=False)
    (tmp_path / "other.tfmodel").write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(DataFormatError, match="no 'images' placeholder.*cadl/models/vgg16.tfmodel"):
        load_vgg16_graph(tmp_path / "other.tfmodel")


def test_hvass_recipe_lowers_the_normalised_loss(tmp_path, vgg16_file):
    import imageio.v3 as iio

    recipe = load_recipe("stylenet")
    out = tmp_path / "hvass"
    assert recipe.main(["--network", "vgg16", "--vgg", str(vgg16_file), "--content", "chelsea",
                        "--style", "coffee", "--max-size", "32", "--steps", "12",
                        "--output-dir", str(out), "--device", "cpu"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    settings = metrics["settings"]
    assert settings["content_layers"] == {"relu3_1": 1.0} and len(settings["style_layers"]) == 13
    assert settings["optimizer"] == "scaled-gd" and settings["adaptive_weights"]
    # each term is divided by its value on the initial image: the first total is the weight sum
    assert metrics["initial_loss"] == pytest.approx(1.5 + 10.0 + 0.3, rel=1e-4)
    # no fixed objective: the style term (weight 10 of 11.8) must fall; the last image is kept
    history = metrics["history"]
    assert history[-1]["style"] < 0.5 * history[0]["style"]
    assert metrics["best_step"] == 12
    image = iio.imread(metrics["output"])
    assert image.shape[2] == 3 and max(image.shape[:2]) == 32
    assert (out / "step_0010.png").is_file()  # Hvass reports every 10 steps
