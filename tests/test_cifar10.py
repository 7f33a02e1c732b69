"""CIFAR-10 chapter: readers, both pipelines, networks, towers, bad input, the recipe."""

import json
import os
import pickle
import tarfile

import numpy as np
import pytest

from cnn_cookbook.datasets import cifar10 as c10
from cnn_cookbook.errors import ChecksumError, DataFormatError, MissingFileError
from conftest import assert_tensorboard_tags, load_recipe, run_recipe


def _known_records(count=3, seed=7):
    """Records with known planes: R, G and B planes of each image, and labels."""
    rng = np.random.default_rng(seed)
    planes = rng.integers(0, 256, (count, 3, 32, 32), dtype=np.uint8)  # CHW, as stored
    labels = np.array([3, 9, 0][:count], dtype=np.uint8)
    return planes, labels


def _write_bin(path, planes, labels):
    records = np.concatenate([labels.reshape(-1, 1), planes.reshape(len(labels), -1)], axis=1)
    path.write_bytes(records.tobytes())


@pytest.fixture(scope="module")
def known_dir(tmp_path_factory):
    """A binary CIFAR folder whose every batch holds the same three known records."""
    folder = tmp_path_factory.mktemp("known") / c10.BINARY_FOLDER
    folder.mkdir()
    planes, labels = _known_records()
    for name in (*c10.TRAIN_BATCHES, c10.TEST_BATCH):
        _write_bin(folder / f"{name}.bin", planes, labels)
    return folder


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    """A small synthetic CIFAR-10 in both real layouts (200 train, 50 test images)."""
    return c10.write_synthetic_cifar(tmp_path_factory.mktemp("tiny"), train_per_class=20, test_per_class=5, seed=3)


def _numpy_standardise(image):
    adjusted = max(image.std(), 1.0 / np.sqrt(image.size))
    return (image - image.mean()) / adjusted


# ---------------------------------------------------------------------------------------------
# Files


def test_binary_reader_decodes_known_records(known_dir):
    planes, labels = _known_records()
    images, read_labels = c10.read_binary_batch(known_dir / "test_batch.bin")
    np.testing.assert_array_equal(read_labels, labels)
    # pixel (row 5, col 7) of image 1 is (R, G, B) = the three planes at (5, 7)
    np.testing.assert_array_equal(images[1, 5, 7], planes[1, :, 5, 7])
    np.testing.assert_array_equal(images, planes.transpose(0, 2, 3, 1))


def test_truncated_binary_file_is_refused(tmp_path):
    planes, labels = _known_records()
    path = tmp_path / "test_batch.bin"
    _write_bin(path, planes, labels)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataFormatError, match="3073-byte"):
        c10.read_binary_batch(path)


def test_synthetic_writer_is_deterministic_and_both_formats_agree(tmp_path, tiny_cifar):
    again = c10.write_synthetic_cifar(tmp_path, train_per_class=20, test_per_class=5, seed=3)
    for name in ("data_batch_2.bin", "test_batch.bin"):
        assert (again / c10.BINARY_FOLDER / name).read_bytes() == (tiny_cifar / c10.BINARY_FOLDER / name).read_bytes()
    bin_images, bin_labels = c10.read_binary_split(tiny_cifar / c10.BINARY_FOLDER, "train")
    py_images, py_labels = c10.read_python_split(tiny_cifar / c10.PYTHON_FOLDER, "train")
    np.testing.assert_array_equal(bin_images, py_images)
    np.testing.assert_array_equal(bin_labels, py_labels)
    assert np.bincount(bin_labels).tolist() == [20] * 10
    batch = c10.read_python_batch(tiny_cifar / c10.PYTHON_FOLDER / "test_batch")
    assert batch["data"].shape == (50, 3072) and batch["data"].dtype == np.uint8
    assert len(batch["filenames"]) == 50 and batch["filenames"][0].endswith(".png")
    assert c10.read_python_meta(tiny_cifar / c10.PYTHON_FOLDER / "batches.meta") == list(c10.CLASS_NAMES)
    assert (tiny_cifar / c10.BINARY_FOLDER / "batches.meta.txt").read_text().split() == list(c10.CLASS_NAMES)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _RunsCode(marker), b"labels": [1]}, protocol=protocol))
    with pytest.raises(DataFormatError, match="nothing in it was run"):
        c10.read_python_batch(path)
    assert not marker.exists()
    # a plain pickle of another shape is refused too, with a clear reason
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(DataFormatError, match="not the dict"):
        c10.read_python_batch(path)


def test_find_cifar10_modes(tmp_path, monkeypatch, tiny_cifar):
    notes = []
    with pytest.raises(MissingFileError, match="cifar-10-binary.tar.gz"):
        c10.find_cifar10("cifar10", tmp_path)
    # the real layout as extracted is found, whether --data-dir is its parent or the folder itself
    assert c10.find_cifar10("auto", tiny_cifar, announce=notes.append) == (tiny_cifar / c10.BINARY_FOLDER, "cifar10")
    assert c10.find_cifar10("cifar10", tiny_cifar / c10.PYTHON_FOLDER, flavour="python")[1] == "cifar10"
    # the archive is extracted once (a hand-made archive: its hash is not the published one)
    from cnn_cookbook.io import downloads

    monkeypatch.setattr(downloads, "accept_checksum_mismatch", True)
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "cifar-10-binary.tar.gz", "w:gz") as tar:
        tar.add(tiny_cifar / c10.BINARY_FOLDER, arcname=c10.BINARY_FOLDER)
    found, name = c10.find_cifar10("cifar10", archive_dir)
    assert name == "cifar10" and (found / "test_batch.bin").is_file()
    assert not notes
    # auto without the files: synthetic, said in one line
    found, name = c10.find_cifar10("auto", tmp_path / "empty", announce=notes.append, train_per_class=2,
                                   test_per_class=1)
    assert name == "synthetic" and (found / "data_batch_5.bin").is_file() and len(notes) == 1
    # a corrupt archive is an error even in auto mode, never a silent fallback
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "cifar-10-binary.tar.gz").write_bytes(b"not a tar file at all")
    with pytest.raises(DataFormatError, match="not a readable archive"):
        c10.find_cifar10("auto", bad)
    # so is a checksum mismatch during --download
    def mismatch(url, tmp, known_hash, *limits):
        raise downloads._Failed("checksum mismatch", checksum=True)
    monkeypatch.setattr(downloads, "_download_one", mismatch)
    with pytest.raises(ChecksumError):
        c10.find_cifar10("auto", tmp_path / "dl", download=True)
    assert not (tmp_path / "dl" / "cifar-10-binary.tar.gz").exists()


# ---------------------------------------------------------------------------------------------
# Pipelines


def _eval_pass(pipeline, folder, style, batch_size=2):
    from cnn_cookbook.datasets import cifar10_pipeline as cp
    from cnn_cookbook.tf1 import tf

    with tf.Graph().as_default():
        stream = cp.eval_stream(pipeline, folder, "test", batch_size, style)
        with tf.Session() as session, cp.queue_runners(session):
            first = cp.evaluate_stream(session, stream, {"images": stream.images})
            second = cp.evaluate_stream(session, stream, {"images": stream.images})
    return first, second


@pytest.mark.parametrize("pipeline", ["queue", "dataset"])
def test_known_records_decoded_exactly_through_pipeline(known_dir, pipeline):
    planes, labels = _known_records()
    hwc = planes.transpose(0, 2, 3, 1)
    first, second = _eval_pass(pipeline, known_dir, "cookbook")
    # the whole test set once per pass, in file order, also on the second pass
    for result in (first, second):
        np.testing.assert_array_equal(result["labels"], labels)
        np.testing.assert_array_equal(result["pixels"], hwc)
    crops = hwc[:, 4:28, 4:28].astype(np.float32)   # 32 -> 24: the central crop
    expected = np.stack([_numpy_standardise(c) for c in crops])
    np.testing.assert_allclose(first["images"], expected, atol=1e-5)


def test_pipelines_give_identical_undistorted_tensors(known_dir):
    for style in ("cookbook", "hvass", "keras-style"):
        queue, _ = _eval_pass("queue", known_dir, style)
        dataset, _ = _eval_pass("dataset", known_dir, style)
        np.testing.assert_array_equal(queue["images"], dataset["images"])
    hwc = _known_records()[0].transpose(0, 2, 3, 1)
    np.testing.assert_allclose(dataset["images"], hwc / 255.0 - 0.5, atol=1e-6)  # keras-style


@pytest.mark.parametrize("pipeline", ["queue", "dataset"])
def test_distortions_apply_to_training_only(known_dir, pipeline):
    from cnn_cookbook.datasets import cifar10_pipeline as cp
    from cnn_cookbook.tf1 import tf

    hwc = _known_records()[0].transpose(0, 2, 3, 1).astype(np.float32)
    undistorted = {i: _numpy_standardise(hwc[i, 4:28, 4:28]) for i in range(3)}
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        cookbook = cp.train_batch(pipeline, known_dir, 32, "cookbook", seed=1, shuffle_buffer=8)
        hvass = cp.train_batch(pipeline, known_dir, 32, "hvass", seed=1, shuffle_buffer=8)
        with tf.Session() as session, cp.queue_runners(session):
            (images, labels), (hv_images, hv_labels) = session.run([cookbook, hvass])
    label_to_index = {3: 0, 9: 1, 0: 2}
    flipped = 0
    for image, label in zip(images, labels):
        plain = undistorted[label_to_index[label]]
        assert not np.allclose(image, plain, atol=1e-3) and not np.allclose(image, plain[:, ::-1], atol=1e-3)
        # brightness cancels in the standardisation, per-channel contrast does not; a flipped
        # image still correlates best with the mirrored original
        corr = [np.corrcoef(image.ravel(), p.ravel())[0, 1] for p in (plain, plain[:, ::-1])]
        assert max(corr) > 0.5
        flipped += corr[1] > corr[0]
    assert 0 < flipped < len(images)
    central = {k: hwc[i, 4:28, 4:28] / 255.0 for k, i in label_to_index.items()}
    changed = [not np.allclose(img, central[lab], atol=1e-3) for img, lab in zip(hv_images, hv_labels)]
    assert all(changed)
    assert hv_images.min() >= 0.0 and hv_images.max() <= 1.0


# ---------------------------------------------------------------------------------------------
# Networks, optimisers, towers


def test_learning_rate_decays_with_the_steps_training_takes(known_dir):
    from cnn_cookbook import cifar10_cnn
    from cnn_cookbook.datasets import cifar10_pipeline as cp
    from cnn_cookbook.tf1 import tf

    hp, per_epoch = cifar10_cnn.resolve("cookbook", 15, batch_size=4, shuffle_buffer=4)
    with tf.Graph().as_default():
        net = cifar10_cnn.build_cifar10_model(hp, known_dir, "dataset", seed=0, steps_per_epoch=per_epoch,
                                              eval_batch_size=3)
        with tf.Session() as session, cp.queue_runners(session):
            session.run(tf.global_variables_initializer())
            for _ in range(2):
                session.run(net.train.train_op)
            assert session.run(net.train.global_step) == 2  # the update advances the schedule's step
            rates = {}
            for step in (249, 250, 499, 500):
                net.train.global_step.load(step, session)
                rates[step] = session.run(net.train.learning_rate)
    assert rates[249] == pytest.approx(0.1) and rates[250] == pytest.approx(0.09)
    assert rates[499] == pytest.approx(0.09) and rates[500] == pytest.approx(0.081)


def test_keras_style_network_has_the_tutorials_parameter_count():
    from cnn_cookbook.nets import get_network
    from cnn_cookbook.tf1 import tf

    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 32, 32, 3])
        logits, _ = get_network("cifar10-keras-style")(images, 10, False)
        count = sum(np.prod(v.get_shape().as_list()) for v in tf.trainable_variables())
        assert count == 1_084_234
        assert logits.get_shape().as_list() == [None, 10]


def test_keras_style_dropout_only_while_training():
    from cnn_cookbook.nets.cifar10 import keras_style_cifar
    from cnn_cookbook.tf1 import tf

    with tf.Graph().as_default():
        images = tf.constant(np.random.default_rng(0).uniform(-0.5, 0.5, (4, 32, 32, 3)), tf.float32)
        training = tf.placeholder_with_default(False, [])
        logits, _ = keras_style_cifar(images, 10, training)
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            a, b = session.run(logits), session.run(logits)
            c, d = session.run(logits, {training: True}), session.run(logits, {training: True})
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(c, d)


def test_batch_norm_moving_averages_update_in_training_and_serve_evaluation():
    from cnn_cookbook.nets.layers import batch_norm
    from cnn_cookbook.tf1 import tf

    rng = np.random.default_rng(1)
    batch = (5.0 + 2.0 * rng.standard_normal((64, 4, 4, 3))).astype(np.float32)
    with tf.Graph().as_default():
        x = tf.constant(batch)
        with tf.variable_scope("bn", reuse=tf.AUTO_REUSE):
            train_out = batch_norm(x, True)
            test_out = batch_norm(x, False)
        updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            before = session.run(test_out)  # no update yet: mean 0, variance 1
            for _ in range(3):
                session.run(updates)
            after, trained = session.run([test_out, train_out])
    np.testing.assert_allclose(before, batch / np.sqrt(1 + 1e-3), rtol=1e-5)
    mean, var = batch.mean(axis=(0, 1, 2)), batch.var(axis=(0, 1, 2))
    np.testing.assert_allclose(after, (batch - mean) / np.sqrt(var + 1e-3), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(trained, after, rtol=1e-3, atol=1e-3)  # same batch, same moments


def test_adamax_matches_its_update_rule():
    from cnn_cookbook.training import AdamaxOptimizer
    from cnn_cookbook.tf1 import tf

    start, target = np.array([1.0, -2.0, 0.5], np.float32), np.array([0.0, 1.0, 3.0], np.float32)
    with tf.Graph().as_default():
        w = tf.get_variable("w", initializer=start)
        loss = tf.reduce_sum((w - target) ** 3 / 3 + (w - target) ** 2)
        step = AdamaxOptimizer(0.1).minimize(loss)
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            for _ in range(3):
                session.run(step)
            got = session.run(w)
    value, m, u = start.astype(np.float64), 0.0, 0.0
    for t in range(1, 4):
        grad = (value - target) ** 2 + 2 * (value - target)
        m = 0.9 * m + 0.1 * grad
        u = np.maximum(0.999 * u, np.abs(grad))
        value = value - 0.1 / (1 - 0.9 ** t) * m / (u + 1e-7)
    np.testing.assert_allclose(got, value, rtol=1e-5)


def test_two_towers_on_two_cpu_devices_update_like_one_device():
    from cnn_cookbook.multi_device import build_towers
    from cnn_cookbook.nets.cifar10 import cookbook_cifar
    from cnn_cookbook.tf1 import session_config, tf

    rng = np.random.default_rng(0)
    images = rng.standard_normal((8, 24, 24, 3)).astype(np.float32)
    labels = rng.integers(0, 10, 8).astype(np.int32)

    def one_step(num_devices, initial=None):
        with tf.Graph().as_default() as graph:
            towers = build_towers(lambda x: cookbook_cifar(x, 10, True)[0], tf.constant(images),
                                  tf.constant(labels), tf.train.GradientDescentOptimizer(0.1), num_devices)
            variables = tf.trainable_variables()
            with tf.Session(config=session_config("cpu", cpu_devices=2)) as session:
                assert sum(d.device_type == "CPU" for d in session.list_devices()) == 2
                session.run(tf.global_variables_initializer())
                if initial is not None:
                    for var in variables:
                        var.load(initial[var.op.name], session)
                start = {v.op.name: session.run(v) for v in variables}
                loss, _ = session.run([towers.loss, towers.train_op])
                end = {v.op.name: session.run(v) for v in variables}
            devices = {op.device for op in graph.get_operations() if op.name.startswith("tower_1/")}
        return start, end, loss, devices

    start, one, loss_one, _ = one_step(1)
    _, two, loss_two, devices = one_step(2, start)
    assert any(d.endswith("CPU:1") or d.endswith("cpu:1") for d in devices)
    assert loss_one == pytest.approx(loss_two, rel=1e-5)
    for name in one:
        assert not np.allclose(one[name], start[name]) or name.endswith("biases")
        np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Training end to end


@pytest.mark.parametrize("model, pipeline", [("cookbook", "queue"), ("hvass", "dataset")])
def test_both_pipelines_train_a_few_steps(tiny_cifar, tmp_path, model, pipeline):
    from cnn_cookbook.cifar10_cnn import train_cifar10
    from cnn_cookbook.training import read_network_info

    run = train_cifar10(tiny_cifar / c10.BINARY_FOLDER, model, tmp_path, pipeline=pipeline, steps=4,
                        batch_size=16, eval_every=2, shuffle_buffer=50, progress=False, dataset="synthetic")
    m = run.metrics
    assert m["steps"] == 4 and m["test_examples"] == 50
    assert len(m["per_class_accuracy"]) == 10 and 0.0 <= m["test_accuracy"] <= 1.0
    assert run.history.evals["step"] == [2, 4] and all(np.isfinite(run.history.train["loss"]))
    assert {"confusion_matrix", "test_predictions", "loss", "accuracy"} <= set(run.figures)
    assert read_network_info(run.paths["checkpoints"])["network"] == f"cifar10-{model}"
    assert run.paths["checkpoints"].joinpath("checkpoint").is_file()


def test_recipe_runs_offline_and_reports_bad_input_in_one_line(tmp_path, tiny_cifar, capsys):
    out = tmp_path / "run"
    proc = run_recipe("cifar10_cnn.py", "--model", "keras-style", "--dataset", "cifar10", "--data-dir",
                      tiny_cifar, "--steps", "6", "--epochs", "1", "--batch-size", "8", "--eval-every", "3",
                      "--output-dir", out, "--no-progress", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_examples"] == 50 and metrics["steps"] == 6 and metrics["model"] == "keras-style"
    for name in ("loss", "accuracy", "confusion_matrix", "test_predictions"):
        assert (out / f"{name}.png").stat().st_size > 0
    assert_tensorboard_tags(out / "tensorboard", "cifar10_cnn")
    assert (out / "checkpoints").is_dir()
    assert "oneDNN" not in proc.stderr and "E0000" not in proc.stderr  # TF's C++ notices stay off the console
    main = load_recipe("cifar10_cnn").main
    # --resume of a finished run trains nothing and reports the run again, leaving its outputs as
    # they were (it used to crash formatting an images/s of None, then to wipe the history)
    finished = {name: (out / name).read_bytes() for name in ("metrics.json", "history.json")}
    main(["--model", "keras-style", "--dataset", "cifar10", "--data-dir", str(tiny_cifar), "--steps", "6",
          "--batch-size", "8", "--eval-every", "3", "--output-dir", str(out), "--no-progress", "--resume"])
    assert "finished at step 6" in capsys.readouterr().out
    assert {name: (out / name).read_bytes() for name in finished} == finished
    # a truncated test batch: one line, exit 2, the earlier run's outputs intact
    broken = tmp_path / "broken" / c10.BINARY_FOLDER
    broken.mkdir(parents=True)
    for f in (tiny_cifar / c10.BINARY_FOLDER).iterdir():
        broken.joinpath(f.name).write_bytes(f.read_bytes())
    test_file = broken / "test_batch.bin"
    test_file.write_bytes(test_file.read_bytes()[:-10])
    before = (out / "metrics.json").read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(["--dataset", "cifar10", "--data-dir", str(broken.parent), "--output-dir", str(out), "--steps", "2"])
    assert stopped.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:") and "test_batch.bin" in errors[0], errors
    assert "3073-byte" in errors[0]
    assert (out / "metrics.json").read_bytes() == before
    # a corrupt archive where the real set should be: one line too
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "cifar-10-binary.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(SystemExit) as stopped:
        main(["--dataset", "auto", "--data-dir", str(corrupt), "--output-dir", str(out), "--steps", "2",
              "--accept-checksum-mismatch"])
    assert stopped.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and "not a readable archive" in errors[0], errors


@pytest.mark.parametrize("model, pipeline", [("cookbook", "queue"), ("hvass", "dataset")])
def test_a_seeded_run_repeats_exactly_with_either_pipeline(tiny_cifar, tmp_path, model, pipeline):
    # the queue's shuffle pool and tf.data's parallel distortions used to depend on thread timing
    from cnn_cookbook.cifar10_cnn import train_cifar10

    runs = [train_cifar10(tiny_cifar / c10.BINARY_FOLDER, model, tmp_path / str(i), pipeline=pipeline, steps=10,
                          batch_size=16, eval_every=5, shuffle_buffer=100, seed=3, device="cpu", progress=False,
                          dataset="synthetic") for i in range(2)]
    assert runs[0].history.train["loss"] == runs[1].history.train["loss"]
    assert runs[0].history.evals == runs[1].history.evals
