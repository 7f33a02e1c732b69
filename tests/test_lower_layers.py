"""The lower layers keep one home per fact: the image reader's dtype and size options, the CIFAR-10
normalisation shared by the pipelines and the networks, the record count."""

import numpy as np
import pytest
from PIL import Image

from cnn_cookbook.datasets import cifar10 as c10
from cnn_cookbook.datasets import cifar10_pipeline as cp
from cnn_cookbook.errors import DataFormatError
from cnn_cookbook.io import images


def test_one_reader_gives_uint8_or_the_same_values_as_float32_and_shrinks_either(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)

    as_uint8, notes = images.read_image(path)
    as_float, _ = images.read_image(path, dtype=np.float32)
    assert as_uint8.dtype == np.uint8 and as_float.dtype == np.float32 and notes == []
    np.testing.assert_array_equal(as_uint8, pixels)
    np.testing.assert_array_equal(as_float, pixels.astype(np.float32))  # same scale, 0..255

    small_float, float_notes = images.read_image(path, dtype=np.float32, max_size=20)
    small_uint8, uint8_notes = images.read_image(path, max_size=20)
    assert small_float.shape == small_uint8.shape == (15, 20, 3) and small_uint8.dtype == np.uint8
    assert float_notes == uint8_notes and "resized from 40x30 to 20x15" in float_notes[0]
    np.testing.assert_array_equal(small_uint8, np.clip(np.round(small_float), 0, 255))

    # the float32 form is what the style and dream chapters load, notes joined in one line
    loaded, note = images.load_image_or_photo(path, max_size=20)
    np.testing.assert_array_equal(loaded, small_float)
    assert note == float_notes[0]


@pytest.mark.parametrize("style", cp.STYLES)
def test_networks_normalise_plain_pixels_as_the_undistorted_pipeline_does(style):
    """The ``*_from_pixels`` networks' input step and the pipelines' test-time output are one
    function (datasets.cifar10_pipeline.normalise_unit_pixels): equal on the same crop."""
    from cnn_cookbook.tf1 import new_session, tf

    rng = np.random.default_rng(1)
    records = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    size = cp.OUTPUT_SIZE[style]
    margin = (32 - size) // 2
    crops = records[:, margin:margin + size, margin:margin + size].astype(np.float32) / 255.0
    with tf.Graph().as_default() as graph:
        image = tf.placeholder(tf.uint8, [32, 32, 3])
        pipeline = cp.preprocess(image, training=False, style=style)
        unit = tf.placeholder(tf.float32, [None, size, size, 3])
        networks_input = cp.normalise_unit_pixels(unit, style)
        with new_session(graph, "cpu") as session:
            from_pipeline = np.stack([session.run(pipeline, {image: r}) for r in records])
            from_pixels = session.run(networks_input, {unit: crops})
    np.testing.assert_allclose(from_pixels, from_pipeline, atol=1e-5)


def test_records_are_counted_by_the_same_check_the_pipelines_use(tmp_path):
    batches = c10.write_synthetic_cifar(tmp_path, train_per_class=3, test_per_class=1, seed=2) / c10.BINARY_FOLDER
    files, count = c10.checked_binary_files(batches, "train")
    classes = len(c10.CLASS_NAMES)
    assert count == c10.count_records(batches, "train") == classes * 3 and len(files) == len(c10.TRAIN_BATCHES)
    assert c10.count_records(batches, "test") == classes
    (batches / "test_batch.bin").write_bytes(b"\x00" * 100)  # not a whole record
    with pytest.raises(DataFormatError, match="not a whole number"):
        c10.count_records(batches, "test")


def test_a_summaries_folder_apart_from_the_run_keeps_each_runs_events_apart(mnist_dir, tmp_path):
    """Issue 12: with the events outside the output folder, a fresh run moves the earlier run's
    event folders aside too (under the kept run's name), so no curve mixes two runs' steps."""
    from cnn_cookbook import run_folder
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.mnist_cnn import train_mnist

    data = load_mnist("idx", mnist_dir)
    out, events = tmp_path / "run", tmp_path / "elsewhere" / "tensorboard"
    lines = []
    for _ in range(2):
        train_mnist(data, "linear", out, device="cpu", progress=False, figures=False, steps=4,
                    eval_every=2, checkpoint_every=2, summaries_dir=events)
    kept, = (out / run_folder.PREVIOUS).iterdir()
    kept_events, = (events / run_folder.PREVIOUS).iterdir()
    assert kept_events.name == kept.name  # the two halves of one earlier run are told together
    for folder in (events, kept_events):  # train/ and eval/, one run's events each
        runs = sorted(p.name for p in folder.iterdir() if p.name != run_folder.PREVIOUS)
        assert runs == ["eval", "train"], runs
        for run in runs:
            assert len(list((folder / run).glob("events.*"))) == 1, folder / run
    assert not (out / "tensorboard").exists()

    # without a run in the output folder, events left there by another run still move aside
    run_folder.keep_earlier_run(tmp_path / "fresh", announce=lines.append, summaries_dir=events)
    assert len(list((events / run_folder.PREVIOUS).iterdir())) == 2
    assert not any((events / name).exists() for name in run_folder.SUMMARY_RUNS)
    assert lines and "TensorBoard events" in lines[0]


def test_lower_layer_errors_name_the_setting_and_the_command_line_names_its_flag(tmp_path):
    """Issue 11: the library speaks its own terms (a notebook has no flags); the error carries the
    setting's name, which the command line turns into the flag of the recipe at hand."""
    from cnn_cookbook import cli
    from cnn_cookbook.datasets import video
    from cnn_cookbook.errors import CookbookError
    from cnn_cookbook.fileio import ensure_dir

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CookbookError) as models:  # a models folder: no flag is implied
        ensure_dir(blocker / "models")
    with pytest.raises(CookbookError) as output:
        ensure_dir(blocker / "out", field="output_dir")
    with pytest.raises(CookbookError) as sampling:
        video.check_sampling(every=2, fps=1.0)
    for info in (models, output, sampling):
        assert "--" not in str(info.value), info.value
    assert "cannot create folder" in str(models.value) and models.value.fields == ()

    parser = cli.parser("test")
    parser.add_argument("--output-dir")
    parser.add_argument("--every", type=int)
    parser.add_argument("--fps", type=float)
    parser.parse_args([])
    assert cli.error_line(models.value) == str(models.value)
    assert cli.error_line(output.value).endswith("(set with --output-dir)")
    assert cli.error_line(sampling.value).endswith("(set with --every and --fps)")
