"""StyleNet: VGG-19 .mat loading (both layouts), losses, optimisers, colours, the recipes.

The .mat files are written here with the real variable, field and layer names and MATLAB's
struct/cell nesting (as scipy.io.loadmat returns it for the published files), but few channels.
"""

import json
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import scipy.io

from cnn_cookbook.errors import DataFormatError, MissingFileError
from cnn_cookbook.nets.vgg19 import VGG19_HEAD, VGG19_LAYERS, load_vgg19_mat, top_classes
from cnn_cookbook import stylenet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from conftest import assert_tensorboard_tags, load_recipe, run_recipe  # noqa: E402

MEAN = np.array([123.68, 116.779, 103.939])
WIDTHS = (4, 4, 6, 6, 8)  # channels per block (VGG-19: 64, 128, 256, 512, 512)
FC, CLASSES = 12, ("tabby", "tiger cat", "Egyptian cat", "lynx", "teapot")


# ---------------------------------------------------------------------------------------------
# Writing MatConvNet files


def matlab_struct(**fields):
    """A 1x1 MATLAB struct, fields in the given order (savemat keeps it)."""
    record = np.empty((1, 1), dtype=[(name, object) for name in fields])
    for name, value in fields.items():
        record[0, 0][name] = value
    return record


def matlab_cell(*items):
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


def random_vgg19_weights(seed=0, widths=WIDTHS, fc=FC, classes=len(CLASSES)):
    """name -> (kernel HWIO, bias) for every conv/fc layer, scaled to keep activations O(1..100)."""
    rng = np.random.default_rng(seed)
    weights, channels = {}, 3
    for name in VGG19_LAYERS:
        if name.startswith("conv"):
            out = widths[int(name[4]) - 1]
            kernel = rng.normal(0, np.sqrt(2.0 / (9 * channels)), (3, 3, channels, out))
            weights[name] = (kernel.astype(np.float32), rng.normal(0, 0.1, out).astype(np.float32))
            channels = out
    for name, shape in (("fc6", (7, 7, channels, fc)), ("fc7", (1, 1, fc, fc)), ("fc8", (1, 1, fc, classes))):
        kernel = rng.normal(0, np.sqrt(2.0 / np.prod(shape[:3])), shape)
        weights[name] = (kernel.astype(np.float32), rng.normal(0, 0.1, shape[3]).astype(np.float32))
    return weights


def layer_struct(name, weights, layout):
    kind = {"co": "conv", "fc": "conv", "re": "relu", "po": "pool", "pr": "softmax"}[name[:2]]
    if layout == "current":  # name first; the fields differ by layer type
        if kind == "conv":
            kernel, bias = weights[name]
            return matlab_struct(name=name, type=kind, weights=matlab_cell(kernel, bias[None]),
                                 size=np.array([kernel.shape], float), pad=np.array([[1.0, 1, 1, 1]]),
                                 stride=np.array([[1.0, 1]]), precious=False,
                                 dilate=np.array([[1.0, 1]]), opts=np.empty((1, 0), object))
        if kind == "pool":
            return matlab_struct(name=name, type=kind, method="max", pool=np.array([[2.0, 2]]),
                                 stride=np.array([[2.0, 2]]), pad=np.zeros((1, 4)), precious=False,
                                 opts=np.empty((1, 0), object))
        return matlab_struct(name=name, type=kind, weights=np.empty((1, 0), object), leak=0.0,
                             precious=False)
    # beta16: weights first (the cookbook reads L[i][0][0][0][0] by position)
    if kind == "conv":
        kernel, bias = weights[name]
        return matlab_struct(weights=matlab_cell(kernel, bias[:, None]), pad=np.array([[1.0, 1, 1, 1]]),
                             type=kind, name=name, stride=np.array([[1.0, 1]]))
    if kind == "pool":
        return matlab_struct(name=name, stride=np.array([[2.0, 2]]), pad=np.zeros((1, 4)), type=kind,
                             method="max", pool=np.array([[2.0, 2]]))
    return matlab_struct(type=kind, name=name)


def write_vgg19_mat(path, weights, layout="current", names=VGG19_LAYERS + VGG19_HEAD, mean=MEAN):
    layers = matlab_cell(*[layer_struct(name, weights, layout) for name in names])
    classes = matlab_struct(name=matlab_cell(*[f"n0{i}" for i in range(len(CLASSES))]),
                            description=matlab_cell(*CLASSES))
    if layout == "current":
        normalization = matlab_struct(imageSize=np.array([[224.0, 224, 3]]), border=np.array([[32.0, 32]]),
                                      averageImage=mean.reshape(1, 1, 3), keepAspect=True)
        scipy.io.savemat(path, {"layers": layers, "meta": matlab_struct(
            inputs=np.empty((1, 0), object), classes=classes, normalization=normalization)})
    else:  # a whole 224x224 mean image whose average is the mean pixel
        image = np.random.default_rng(1).normal(0, 5, (16, 16, 3))
        image = image - image.mean(axis=(0, 1)) + mean
        normalization = matlab_struct(averageImage=image, keepAspect=True, border=np.array([[32.0, 32]]),
                                      imageSize=np.array([[224.0, 224, 3]]), interpolation="bilinear")
        scipy.io.savemat(path, {"layers": layers, "classes": classes, "normalization": normalization})
    return Path(path)


@pytest.fixture(scope="module")
def weights():
    return random_vgg19_weights()


@pytest.fixture(scope="module")
def vgg_mat(tmp_path_factory, weights):
    return write_vgg19_mat(tmp_path_factory.mktemp("vgg") / "imagenet-vgg-verydeep-19.mat", weights)


# ---------------------------------------------------------------------------------------------
# NumPy reference of the network (kernels as stored: HWIO, cross-correlation, SAME padding)


def conv_np(x, kernel, bias, padding=1):
    h, w = kernel.shape[:2]
    padded = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    out_h, out_w = padded.shape[0] - h + 1, padded.shape[1] - w + 1
    out = np.zeros((out_h, out_w, kernel.shape[3]))
    for u in range(h):
        for v in range(w):
            out += padded[u:u + out_h, v:v + out_w] @ kernel[u, v]
    return out + bias


def vgg19_np(image, weights, mean=MEAN, pooling="max"):
    x, out = image.astype(np.float64) - mean, {}
    for name in VGG19_LAYERS:
        if name.startswith("conv"):
            x = conv_np(x, *weights[name])
        elif name.startswith("relu"):
            x = np.maximum(x, 0)
        else:
            blocks = x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2, -1)
            x = blocks.max(axis=(1, 3)) if pooling == "max" else blocks.mean(axis=(1, 3))
        out[name] = x
    return out


def run_graph(build, feed=None):
    from cnn_cookbook.tf1 import tf

    graph = tf.Graph()
    with graph.as_default():
        fetches = build(tf)
    with tf.Session(graph=graph) as session:
        return session.run(fetches, feed)


# ---------------------------------------------------------------------------------------------
# Loading


def test_both_layouts_parse_to_the_same_network(tmp_path, weights):
    current = load_vgg19_mat(write_vgg19_mat(tmp_path / "current.mat", weights, "current"))
    beta16 = load_vgg19_mat(write_vgg19_mat(tmp_path / "beta16.mat", weights, "beta16"))
    assert current.layer_names == beta16.layer_names == VGG19_LAYERS
    for a, b in zip(current.layers + current.head, beta16.layers + beta16.head):
        assert (a.name, a.kind) == (b.name, b.kind)
        if a.kind == "conv":
            np.testing.assert_array_equal(a.kernel, weights[a.name][0])
            np.testing.assert_array_equal(b.kernel, weights[a.name][0])
            np.testing.assert_array_equal(a.bias, b.bias)
    np.testing.assert_allclose(current.mean_pixel, MEAN, rtol=1e-6)
    np.testing.assert_allclose(beta16.mean_pixel, MEAN, rtol=1e-6)
    assert current.class_names == beta16.class_names == CLASSES
    assert "current" in current.notes[0] and "beta16" in beta16.notes[0]


def test_graph_equals_numpy_reference_with_kernels_as_stored(vgg_mat, weights):
    network = load_vgg19_mat(vgg_mat)
    image = np.random.default_rng(2).uniform(0, 255, (32, 32, 3)).astype(np.float32)
    for pooling in ("max", "avg"):
        names = ["relu1_1", "pool2", "relu3_4", "relu5_4"]
        got = run_graph(lambda tf: {k: v for k, v in network.stack()(
            tf.constant(image[None]), pooling).items() if k in names})
        expected = vgg19_np(image, weights, pooling=pooling)
        for name in names:
            np.testing.assert_allclose(got[name][0], expected[name], rtol=2e-3, atol=2e-3 * np.abs(expected[name]).max())


def test_asymmetric_kernel_proves_the_orientation(tmp_path, weights):
    """A kernel whose only tap is at row 0, column 1 copies the pixel one row ABOVE.

    MatConvNet (like TensorFlow) correlates with kernel[row, column]; a loader that swapped
    height and width, as the cookbook's does, would copy the pixel one column to the LEFT.
    """
    shifted = dict(weights)
    kernel = np.zeros((3, 3, 3, WIDTHS[0]), np.float32)
    for channel in range(3):
        kernel[0, 1, channel, channel] = 1.0
    shifted["conv1_1"] = (kernel, np.zeros(WIDTHS[0], np.float32))
    network = load_vgg19_mat(write_vgg19_mat(tmp_path / "asym.mat", shifted, mean=np.zeros(3)))
    image = np.random.default_rng(3).uniform(1, 255, (8, 10, 3)).astype(np.float32)
    out = run_graph(lambda tf: network.stack()(tf.constant(image[None]), last_layer="conv1_1")["conv1_1"])[0]
    np.testing.assert_allclose(out[1:, :, :3], image[:-1], rtol=1e-6)  # row above
    np.testing.assert_array_equal(out[0, :, :3], 0)  # zero padding above the first row
    assert not np.allclose(out[:, 1:, :3], image[:, :-1])  # not the column to the left


def test_other_network_truncated_and_missing_files_are_refused(tmp_path, weights):
    vgg16_names = ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", "relu2_1", "conv2_2",
                   "relu2_2", "pool2", "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3",
                   "pool3", "conv4_1", "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3", "pool4",
                   "conv5_1", "relu5_1", "conv5_2", "relu5_2", "conv5_3", "relu5_3", "pool5", "fc6",
                   "relu6", "fc7", "relu7", "fc8", "prob", "x", "y", "z", "w", "v", "u")
    other = write_vgg19_mat(tmp_path / "vgg16.mat", dict(weights, conv3_3=weights["conv3_2"],
                                                         conv4_3=weights["conv4_2"], conv5_3=weights["conv5_2"],
                                                         x=None), names=vgg16_names[:37])
    with pytest.raises(DataFormatError, match=r"not the VGG-19 MatConvNet file \(layer 16 is 'pool3'.*"
                                              r"vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat"):
        load_vgg19_mat(other)
    scipy.io.savemat(tmp_path / "nolayers.mat", {"net": np.zeros(3)})
    with pytest.raises(DataFormatError, match="no 'layers' variable"):
        load_vgg19_mat(tmp_path / "nolayers.mat")
    good = write_vgg19_mat(tmp_path / "good.mat", weights).read_bytes()
    (tmp_path / "truncated.mat").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFormatError, match="truncated"):
        load_vgg19_mat(tmp_path / "truncated.mat")
    with pytest.raises(MissingFileError, match="--download"):
        load_vgg19_mat(tmp_path / "absent.mat")


def test_check_head_classifies_like_numpy(vgg_mat, weights):
    from cnn_cookbook.nets.vgg19 import center_crop_resize

    network = load_vgg19_mat(vgg_mat)
    image = center_crop_resize(np.random.default_rng(4).uniform(0, 255, (240, 300, 3)))
    assert image.shape == (224, 224, 3)
    got = run_graph(lambda tf: network.stack().classify(tf.constant(image[None])))[0]
    x = vgg19_np(image, weights)["relu5_4"]
    x = x.reshape(7, 2, 7, 2, -1).max(axis=(1, 3))  # pool5
    x = np.maximum(conv_np(x, *weights["fc6"], padding=0), 0)
    x = np.maximum(conv_np(x, *weights["fc7"], padding=0), 0)
    logits = conv_np(x, *weights["fc8"], padding=0).reshape(-1)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-5)
    assert top_classes(got, network.class_names, 2)[0][0] == CLASSES[int(np.argmax(expected))]


# ---------------------------------------------------------------------------------------------
# Losses


def test_gram_and_loss_terms_equal_numpy(tmp_path):
    from cnn_cookbook.stylenet import content_loss, gram_matrix, style_loss, total_variation_loss

    rng = np.random.default_rng(5)
    feats = {"a": rng.normal(size=(1, 5, 4, 3)), "b": rng.normal(size=(1, 3, 2, 6))}
    content = {k: rng.normal(size=v.shape) for k, v in feats.items()}
    styles = {k: rng.normal(size=(2 * v.shape[1], v.shape[2] + 1, v.shape[3])) for k, v in feats.items()}
    image = rng.uniform(0, 255, (1, 6, 5, 3))
    weights = {"a": 0.3, "b": 0.7}

    def reference_gram(f, normalized=True):
        m = f.reshape(-1, f.shape[-1])
        return m.T @ m / (f.size if normalized else 1)

    for normalized in (True, False):
        grams = {k: reference_gram(v, normalized) for k, v in styles.items()}
        got = run_graph(lambda tf: {
            "gram": gram_matrix(tf.constant(feats["a"]), normalized),
            "gram_dynamic": gram_matrix(tf.placeholder_with_default(feats["b"], [1, None, None, 6]), normalized),
            "content": content_loss({k: tf.constant(v) for k, v in feats.items()}, content, weights),
            "style": style_loss({k: tf.constant(v) for k, v in feats.items()}, grams, weights, normalized),
            "tv_sq": total_variation_loss(tf.constant(image)), "tv_abs": total_variation_loss(tf.constant(image), "abs-sum")})
        np.testing.assert_allclose(got["gram"], reference_gram(feats["a"], normalized), rtol=1e-10)
        np.testing.assert_allclose(got["gram_dynamic"], reference_gram(feats["b"], normalized), rtol=1e-10)
        np.testing.assert_allclose(stylenet.gram_matrix_np(feats["a"], normalized),
                                   reference_gram(feats["a"], normalized), rtol=1e-12)
        # the cookbook's forms: 2 * l2_loss(d) / size, with l2_loss(d) = sum(d^2) / 2
        expected_content = sum(w * 2 * (np.sum((feats[k] - content[k]) ** 2) / 2) / content[k].size
                               for k, w in weights.items())
        expected_style = sum(w * 2 * (np.sum((reference_gram(feats[k], normalized) - grams[k]) ** 2) / 2)
                             / grams[k].size for k, w in weights.items())
        np.testing.assert_allclose(got["content"], expected_content, rtol=1e-10)
        np.testing.assert_allclose(got["style"], expected_style, rtol=1e-10)
    dy, dx = np.diff(image, axis=1), np.diff(image, axis=2)
    np.testing.assert_allclose(got["tv_sq"], 2 * (np.sum(dy ** 2) / 2 / dy.size + np.sum(dx ** 2) / 2 / dx.size))
    np.testing.assert_allclose(got["tv_abs"], np.abs(dy).sum() + np.abs(dx).sum())


# ---------------------------------------------------------------------------------------------
# Optimisation


def small_images(seed=6, size=32):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    content = np.stack([255 * yy, 255 * xx, 128 + 60 * np.sin(8 * yy)], -1)
    style = rng.uniform(0, 255, (size, size + 8, 3))
    return content.astype(np.float32), style.astype(np.float32)


def run_stylize(network, content, styles, settings, blend=None, seed=0, checkpoint_every=None):
    from cnn_cookbook.tf1 import tf

    graph = tf.Graph()
    with tf.Session(graph=graph) as session:
        return list(stylenet.stylize(session, network, content, styles, settings, blend,
                                     np.random.default_rng(seed), checkpoint_every))


@pytest.mark.parametrize("optimizer,steps", [("adam", 20), ("lbfgs", 6)])
def test_optimisers_lower_the_loss(vgg_mat, optimizer, steps):
    network = load_vgg19_mat(vgg_mat)
    content, style = small_images()
    settings = stylenet.StyleSettings.cookbook(optimizer=optimizer, steps=steps, report_every=5)
    results = run_stylize(network, content, [style], settings)
    steps_seen = [r for r in results if not r.final]
    assert [r.step for r in steps_seen] == list(range(1, steps + 1))
    assert set(steps_seen[0].losses) == {"content", "style", "tv", "total"}
    final = results[-1]
    assert final.final and not final.diverged
    assert final.losses["total"] < 0.8 * steps_seen[0].losses["total"]
    assert final.image.shape == content.shape and np.isfinite(final.image).all()
    assert [r.step for r in steps_seen if r.image is not None] == [s for s in range(1, steps + 1)
                                                                  if s % 5 == 0 or s == steps]
    if optimizer == "lbfgs":  # bounded optimisation: pixels stay in range
        assert final.image.min() >= 0 and final.image.max() <= 255


def test_zero_blend_weight_style_has_no_effect_and_preserve_colors_keeps_chroma(vgg_mat):
    network = load_vgg19_mat(vgg_mat)
    content, style = small_images()
    other = np.random.default_rng(9).uniform(0, 255, (20, 20, 3)).astype(np.float32)
    settings = stylenet.StyleSettings.cookbook(steps=3, report_every=3)
    one = run_stylize(network, content, [style], settings)
    two = run_stylize(network, content, [style, other], settings, blend=[2.0, 0.0])
    mixed = run_stylize(network, content, [style, other], settings, blend=[1.0, 1.0])
    np.testing.assert_allclose(two[0].losses["style"], one[0].losses["style"], rtol=1e-5)
    assert not np.isclose(mixed[0].losses["style"], one[0].losses["style"], rtol=1e-3)

    colours = stylenet.StyleSettings.cookbook(steps=3, report_every=3, init="content", preserve_colors=True)
    final = run_stylize(network, content, [style], colours)[-1]
    ycc_out, ycc_content = stylenet.rgb_to_ycbcr(final.image), stylenet.rgb_to_ycbcr(content)
    inside = (final.image > 0.5).all(-1) & (final.image < 254.5).all(-1)  # not clipped
    assert inside.mean() > 0.5
    np.testing.assert_allclose(ycc_out[inside][:, 1:], ycc_content[inside][:, 1:], atol=1e-3)
    assert np.abs(ycc_out[..., 0] - ycc_content[..., 0]).max() > 1  # the luminance did change


def test_preserve_colors_numpy():
    rng = np.random.default_rng(10)
    content, stylized = rng.uniform(40, 210, (2, 6, 7, 3))
    out = stylenet.preserve_colors(stylized, content)
    np.testing.assert_allclose(stylenet.ycbcr_to_rgb(stylenet.rgb_to_ycbcr(content)), content, atol=1e-9)
    ycc = stylenet.rgb_to_ycbcr(out)
    inside = (out > 0).all(-1) & (out < 255).all(-1)
    np.testing.assert_allclose(ycc[inside][:, 1:], stylenet.rgb_to_ycbcr(content)[inside][:, 1:], atol=1e-4)
    np.testing.assert_allclose(ycc[inside][:, 0], stylenet.rgb_to_ycbcr(stylized)[inside][:, 0], atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Recipes


def write_png(path, array):
    iio.imwrite(path, np.asarray(array).astype(np.uint8))
    return path


def test_recipe_end_to_end_with_rgba_greyscale_and_resizing(tmp_path, vgg_mat):
    content, style = small_images(size=40)
    rgba = np.concatenate([content, np.full(content.shape[:2] + (1,), 200.0)], -1)
    content_png = write_png(tmp_path / "content.png", rgba[:, :36])
    grey_png = write_png(tmp_path / "style.png", style[..., 0])
    out = tmp_path / "out"
    proc = run_recipe("stylenet.py", "--vgg", vgg_mat, "--content", content_png, "--style", grey_png,
                      "chelsea", "--style-blend", "3", "1", "--max-size", "32", "--steps", "4",
                      "--checkpoint-every", "2", "--output-dir", out, "--device", "cpu", "--pooling", "avg",
                      env={"CNN_COOKBOOK_PROGRESS_SECONDS": "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "alpha channel dropped" in proc.stdout and "greyscale converted to RGB" in proc.stdout
    assert "resized from 36x40 to 29x32 (--max-size 32)" in proc.stdout
    assert "step 4/4" not in proc.stdout  # report interval stays the cookbook's 25
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["final_loss"] < metrics["initial_loss"]
    assert metrics["seconds_per_step"] > 0 and metrics["style_blend"] == [0.75, 0.25]
    image = iio.imread(metrics["output"])
    assert image.shape == (32, 29, 3) and image.dtype == np.uint8
    assert (out / "step_0002.png").is_file() and (out / "step_0004.png").is_file()
    # not a terminal: plain progress lines (one per step at interval 0) that show every term
    lines = [line for line in proc.stderr.splitlines() if line.startswith("style: ")]
    assert len(lines) == 4 and "4/4 step (100%)" in lines[-1], proc.stderr
    assert all("content=" in line and "tv=" in line for line in lines) and "\r" not in proc.stderr
    assert_tensorboard_tags(out / "tensorboard", "stylenet")


def test_recipe_errors_are_one_line(tmp_path, vgg_mat, weights, capsys):
    main = load_recipe("stylenet").main

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    cases = [
        (["--vgg", str(vgg_mat), "--content", str(bad)], "cannot read image"),
        (["--vgg", str(tmp_path / "absent.mat")], "--download"),
        (["--weights", "real"], "imagenet-vgg-verydeep-19.mat is not at"),
        (["--vgg", str(write_vgg19_mat(tmp_path / "x.mat", weights, names=VGG19_LAYERS[:12]))],
         "not the VGG-19 MatConvNet file"),
    ]
    for argv, fragment in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv + ["--output-dir", str(tmp_path / "o"), "--steps", "2"])
        assert exit_info.value.code == 2
        error = capsys.readouterr().err
        assert error.startswith("error: ") and fragment in error and "Traceback" not in error


def test_recipe_nan_loss_stops_and_keeps_the_best_image(tmp_path, vgg_mat, capsys):
    main = load_recipe("stylenet").main

    content, style = small_images(size=24)
    out = tmp_path / "nan"
    with pytest.raises(SystemExit) as exit_info:
        main(["--vgg", str(vgg_mat), "--content", str(write_png(tmp_path / "c.png", content)),
              "--style", str(write_png(tmp_path / "s.png", style)), "--learning-rate", "1e30",
              "--steps", "10", "--output-dir", str(out), "--device", "cpu"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "NaN or infinite at step" in error and "best image so far (step 0)" in error
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["diverged"] and metrics["output"] == str(out / "stylized.png")
    assert iio.imread(out / "stylized.png").shape == (24, 24, 3)


def test_recipe_takes_neural_styles_own_flags(tmp_path, vgg_mat, capsys):
    """--network PATH, --styles, --iterations, --checkpoint-iterations, --checkpoint-output,
    --output FILE, --width and --initial FILE, with neural-style's meanings."""
    main = load_recipe("stylenet").main

    content, style = small_images(size=24)
    start = np.zeros((16, 16, 3))  # a flat black start image, resized to the content's size
    out = tmp_path / "run"
    assert main(["--network", str(vgg_mat), "--content", str(write_png(tmp_path / "c.png", content)),
                 "--styles", str(write_png(tmp_path / "s.png", style)), "--iterations", "2",
                 "--checkpoint-iterations", "1", "--checkpoint-output", str(tmp_path / "cp_%s.png"),
                 "--output", str(tmp_path / "final.png"), "--width", "20",
                 "--initial", str(write_png(tmp_path / "start.png", start)), "--learning-rate", "1",
                 "--output-dir", str(out), "--device", "cpu", "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["output"] == str(tmp_path / "final.png") and metrics["image_size"] == [20, 20]
    assert metrics["network_file"] == str(vgg_mat) and metrics["steps"] == 2
    assert (tmp_path / "cp_1.png").is_file() and (tmp_path / "cp_2.png").is_file()
    # one Adam step of rate 1 from black: the image is still near 0, not the noise init around 117
    assert iio.imread(tmp_path / "cp_1.png").mean() < 10
    assert iio.imread(tmp_path / "final.png").shape == (20, 20, 3)


def test_check_recipe_prints_top_classes(tmp_path, vgg_mat, capsys):
    main = load_recipe("vgg19_check").main

    assert main(["--vgg", str(vgg_mat), "--output-dir", str(tmp_path), "--top", "3", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    top = json.loads((tmp_path / "metrics.json").read_text())["top"]
    assert len(top) == 3 and top[0]["probability"] >= top[1]["probability"]
    assert "1. " in printed and top[0]["class"] in printed and top[0]["class"] in CLASSES


def test_same_seed_twice_repeats_and_the_earlier_run_is_kept_whole(tmp_path, vgg_mat, capsys):
    """Issue 12: a run into a used folder first moves the earlier run aside (its images, plots,
    metrics and TensorBoard events together); with one seed the two runs agree exactly."""
    main = load_recipe("stylenet").main

    content, style = small_images(size=24)
    out = tmp_path / "run"
    argv = ["--vgg", str(vgg_mat), "--content", str(write_png(tmp_path / "c.png", content)),
            "--style", str(write_png(tmp_path / "s.png", style)), "--steps", "3", "--checkpoint-every", "2",
            "--seed", "7", "--output-dir", str(out), "--device", "cpu", "--no-progress"]
    first, second = run_twice(main, argv, out, capsys, "stylized.png", "step_0002.png", "losses.png")
    assert first["history"] == second["history"] and first["final_loss"] == second["final_loss"]


def run_twice(main, argv, out, capsys, *names):
    """Run a recipe's ``main`` twice into ``out``: the first run must be moved aside whole (the
    files ``names``, metrics.json and its TensorBoard events) and each image in ``names`` must
    come out the same; returns both runs' metrics."""
    assert main(argv) == 0 and main(argv) == 0
    assert "was moved to" in capsys.readouterr().out
    (kept,) = (out / "previous-runs").iterdir()
    for name in names + ("metrics.json",):
        assert (kept / name).is_file() and (out / name).is_file(), name
        if name.endswith(".png") and not name.startswith(("losses", "scores")):  # plots hold timings
            np.testing.assert_array_equal(iio.imread(kept / name), iio.imread(out / name), err_msg=name)
    assert (kept / "tensorboard" / "train").is_dir() and len(list((out / "tensorboard" / "train").iterdir())) == 1
    return [json.loads((folder / "metrics.json").read_text()) for folder in (kept, out)]
