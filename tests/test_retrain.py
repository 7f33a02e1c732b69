"""Retraining chapter: CIFAR -> class folders, TFRecords, Inception v3 (stand-in), bottlenecks, new layer."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from cnn_cookbook.datasets import folders
from cnn_cookbook.errors import CookbookError, DataFormatError, MissingFileError
from cnn_cookbook.io.images import UnreadableImage, encode_jpeg, read_image_rgb
from conftest import assert_tensorboard_tags, load_recipe, run_in_process, run_recipe

CLASSES = ("red_stripes", "green_bars", "blue_disc")


def _class_image(kind, rng, size=24):
    """Noisy images of three learnable kinds (stripes, bars, a disc), placed at random offsets."""
    yy, xx = np.mgrid[0:size, 0:size]
    image = rng.integers(0, 90, (size, size, 3)).astype(float)
    shift = rng.integers(0, 4)
    if kind == 0:
        image[..., 0] += 140 * (((yy + shift) // 3) % 2)
    elif kind == 1:
        image[..., 1] += 140 * (((xx + shift) // 4) % 2)
    else:
        image[..., 2] += 140 * (((xx - 12 - shift) ** 2 + (yy - 12) ** 2) < 40)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_class_folders(root, per_class=30, seed=0, extension=".png"):
    rng = np.random.default_rng(seed)
    return folders.write_class_folders(
        root, {name: [_class_image(k, rng) for _ in range(per_class)] for k, name in enumerate(CLASSES)},
        extension)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """The package's stand-in graph, generated once for the module: (InceptionFiles, GraphDef)."""
    from cnn_cookbook.nets import inception_v3 as iv3

    files = iv3.locate_inception_v3("stand-in", models_dir=tmp_path_factory.mktemp("models"))
    return files, iv3.load_inception_graph_def(files.graph_path)


# ---------------------------------------------------------------------------------------------
# prepare: CIFAR python batches -> PNG folders


def _write_cifar_python(directory, images, labels):
    """Real-format python batches (CHW rows, bytes keys), written here without the package's writer."""
    directory.mkdir(parents=True)
    rows = np.stack([im.transpose(2, 0, 1).reshape(-1) for im in images]).astype(np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in labels], b"data": rows,
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(len(labels))]}
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))
    return directory


def test_cifar_export_keeps_images_the_right_way_round_and_is_not_redone(tmp_path):
    from cnn_cookbook.datasets.cifar10 import CLASS_NAMES, read_python_batch

    arrow = np.zeros((32, 32, 3), np.uint8)
    arrow[2:6, :, 0] = 255          # a red bar along the top
    arrow[:, 2:5, 1] = 200          # a green bar down the left
    arrow[20:30, 24:30, 2] = 255    # a blue block bottom right
    other = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    batches = _write_cifar_python(tmp_path / "cifar-10-batches-py", [arrow, other], [3, 9])

    report = folders.export_cifar_python(batches, tmp_path / "out", read_python_batch, CLASS_NAMES, progress=False)
    assert (report.written, report.kept) == (12, 0)
    saved = report.train_dir / "cat" / "data_batch_1_0.png"
    np.testing.assert_array_equal(read_image_rgb(saved), arrow)
    np.testing.assert_array_equal(read_image_rgb(report.validation_dir / "truck" / "test_batch_1.png"), other)
    assert folders.read_labels_file(report.labels_file) == list(CLASS_NAMES)

    before = saved.stat().st_mtime_ns
    again = folders.export_cifar_python(batches, tmp_path / "out", read_python_batch, CLASS_NAMES, progress=False)
    assert (again.written, again.kept) == (0, 12)
    assert saved.stat().st_mtime_ns == before
    assert sum(1 for p in (tmp_path / "out").rglob("*.png")) == 12
    with pytest.raises(CookbookError, match="prepared from"):
        folders.export_cifar_python(batches, tmp_path / "out", read_python_batch, CLASS_NAMES,
                                    source="synthetic", progress=False)


# ---------------------------------------------------------------------------------------------
# TFRecords


def test_tfrecords_round_trip_every_feature_with_both_readers(tmp_path):
    from cnn_cookbook.datasets import tfrecords
    from cnn_cookbook.tf1 import tf

    make_class_folders(tmp_path / "png", per_class=4)
    make_class_folders(tmp_path / "jpg", per_class=1, extension=".jpg", seed=3)
    root = tmp_path / "png"
    for name in CLASSES:  # one JPEG per class: kept byte for byte; PNGs are re-encoded
        (tmp_path / "jpg" / name / f"{name}_0000.jpg").rename(root / name / f"kept_{name}.jpg")
    labels_file = folders.write_labels_file(tmp_path / "labels.txt", CLASSES)
    files = tfrecords.find_image_files(root, labels_file)
    report = tfrecords.write_tfrecords("train", files, tmp_path / "records", num_shards=2, num_threads=2,
                                       progress=False)
    assert [p.name for p in report.files] == ["train-00000-of-00002", "train-00001-of-00002"]
    assert sum(report.records) == 15

    expected = {folders.Path(f).name: (f, t, l) for f, t, l in zip(files.filenames, files.texts, files.labels)}
    graph = tf.Graph()
    with graph.as_default():
        record = tf.data.make_one_shot_iterator(
            tfrecords.tfrecord_dataset(tmp_path / "records" / "train-*")).get_next()
        queued = tfrecords.queue_reader(tmp_path / "records" / "train-*", num_epochs=1)
        init = tf.local_variables_initializer()
    seen = []
    with tf.Session(graph=graph) as session:
        session.run(init)
        for _ in range(15):
            r = session.run(record)
            name = r["image/filename"].decode()
            path, text, label = expected[name]
            source = read_image_rgb(path)
            assert (r["image/height"], r["image/width"], r["image/channels"]) == (*source.shape[:2], 3)
            assert r["image/colorspace"] == b"RGB" and r["image/format"] == b"JPEG"
            assert r["image/class/text"].decode() == text == CLASSES[label - 1]
            assert r["image/class/label"] == label and 1 <= label <= 3
            assert r["image/encoded"][:3] == b"\xff\xd8\xff"
            assert np.abs(r["image"].astype(int) - source.astype(int)).mean() < 6
            if name.startswith("kept_"):
                assert r["image/encoded"] == open(path, "rb").read()
            seen.append(name)
        with pytest.raises(tf.errors.OutOfRangeError):
            session.run(record)
        coord = tf.train.Coordinator()
        threads = tf.train.start_queue_runners(session, coord)
        queue_names = [session.run(queued)["image/filename"].decode() for _ in range(15)]
        coord.request_stop()
        coord.join(threads)
    assert sorted(seen) == sorted(expected) == sorted(queue_names)


def test_tfrecords_shard_and_thread_counts_are_honoured(tmp_path):
    from cnn_cookbook.datasets import tfrecords

    make_class_folders(tmp_path / "img", per_class=5)
    (tmp_path / "img" / CLASSES[0] / "broken.png").write_bytes(b"\x89PNG not really")
    labels_file = folders.write_labels_file(tmp_path / "labels.txt", CLASSES)
    files = tfrecords.find_image_files(tmp_path / "img", labels_file)
    report = tfrecords.write_tfrecords("validation", files, tmp_path / "out", 6, 3, progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"validation-0000{i}-of-00006" for i in range(6)]
    assert report.threads_used == 3
    assert sum(report.records) == 15 and all(n > 0 for n in report.records)
    assert [p.name for p in report.skipped] == ["broken.png"]
    with pytest.raises(CookbookError, match="multiple of the number of threads"):
        tfrecords.write_tfrecords("x", files, tmp_path / "out2", 4, 3, progress=False)
    folders.write_labels_file(labels_file, CLASSES[:2])
    with pytest.raises(CookbookError, match="does not match the class folders"):
        tfrecords.find_image_files(tmp_path / "img", labels_file)


# ---------------------------------------------------------------------------------------------
# Split, bottleneck cache


def test_hash_split_is_stable_when_files_are_added(tmp_path):
    make_class_folders(tmp_path / "img", per_class=40)
    before = folders.split_image_lists(folders.list_class_folders(tmp_path / "img"))
    make_class_folders(tmp_path / "more", per_class=80, seed=5)
    for name in CLASSES:
        for path in (tmp_path / "more" / name).iterdir():
            path.rename(tmp_path / "img" / name / f"new_{path.name}")
    after = folders.split_image_lists(folders.list_class_folders(tmp_path / "img"))
    for name in CLASSES:
        for split in folders.SPLITS:
            assert set(before[name][split]) <= set(after[name][split])
    counts = {s: sum(len(after[n][s]) for n in CLASSES) for s in folders.SPLITS}
    assert 0.65 < counts["training"] / 360 < 0.95 and counts["validation"] > 0 and counts["testing"] > 0
    # variants of one photo ("_nohash_") stay together
    assert len({folders.split_for(f"dog_nohash_{i}.jpg") for i in range(20)}) == 1


def test_second_run_computes_no_bottlenecks_and_corrupt_files_are_recomputed(tmp_path, stand_in):
    from cnn_cookbook import bottlenecks as bn

    files, graph_def = stand_in
    make_class_folders(tmp_path / "img", per_class=6)
    found = folders.list_class_folders(tmp_path / "img")
    lists = folders.split_image_lists(found, 20, 20)
    ts = bn.open_transfer_session(graph_def, "batch")
    with ts.session:
        first, stats = bn.cache_bottlenecks(ts, lists, found.class_names, tmp_path / "cache", progress=False)
        assert (stats.computed, stats.cached) == (18, 0)
        second, stats = bn.cache_bottlenecks(ts, lists, found.class_names, tmp_path / "cache", progress=False)
        assert (stats.computed, stats.cached, stats.recomputed) == (0, 18, 0)
        np.testing.assert_array_equal(first["training"].values, second["training"].values)

        cache_files = sorted((tmp_path / "cache").rglob("*.bnk"))
        truncated, flipped = cache_files[0], cache_files[1]
        truncated.write_bytes(truncated.read_bytes()[:-100])
        blob = bytearray(flipped.read_bytes())
        blob[40] ^= 0xFF
        flipped.write_bytes(bytes(blob))
        assert bn.read_bottleneck(truncated) is None and bn.read_bottleneck(flipped) is None
        third, stats = bn.cache_bottlenecks(ts, lists, found.class_names, tmp_path / "cache", progress=False)
        assert (stats.computed, stats.cached, stats.recomputed) == (2, 16, 2)
        for split in folders.SPLITS:
            np.testing.assert_allclose(third[split].values, first[split].values, rtol=1e-5, atol=1e-6)
        assert bn.read_bottleneck(truncated) is not None


def test_transfer_modes_give_the_same_values(stand_in):
    from cnn_cookbook import bottlenecks as bn
    from cnn_cookbook.nets import inception_v3 as iv3

    _, graph_def = stand_in
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(32, 32, 3)] * 3 + [(50, 40, 3)]]
    values = {}
    for mode in ("batch", "map", "single"):
        ts = bn.open_transfer_session(graph_def, mode)
        with ts.session:
            values[mode] = iv3.transfer_values(ts.session, ts.transfer, images, batch_size=2)
    assert values["single"].shape == (4, 2048) and values["single"].std() > 0
    np.testing.assert_allclose(values["batch"], values["single"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(values["map"], values["single"], rtol=1e-4, atol=1e-5)
    assert not np.allclose(values["single"][0], values["single"][1])


# ---------------------------------------------------------------------------------------------
# Retraining end to end (library)


def test_retrain_on_stand_in_learns_and_the_export_predicts_what_training_predicted(tmp_path, stand_in):
    from cnn_cookbook import bottlenecks as bn
    from cnn_cookbook import retrain as rt
    from cnn_cookbook.nets import inception_v3 as iv3
    from cnn_cookbook.tf1 import tf

    files, _ = stand_in
    make_class_folders(tmp_path / "img", per_class=40)
    (tmp_path / "img" / "empty_class").mkdir()
    (tmp_path / "img" / CLASSES[1] / "zz_broken.png").write_bytes(b"not an image at all")
    (tmp_path / "img" / CLASSES[2] / "notes.txt").write_text("not an image name: ignored")
    run = rt.retrain_on_folders(tmp_path / "img", files, tmp_path / "out", steps=300, seed=1,
                                progress=False, announce=lambda line: None)
    m = run.metrics
    assert m["model"] == "stand-in" and "STAND-IN" in m["note"]
    assert m["empty_classes"] == ["empty_class"] and len(m["unreadable_images"]) == 1
    assert m["classes"] == sorted(CLASSES)
    assert m["test_examples"] >= 6 and m["test_accuracy"] >= 0.8  # chance is 1/3

    graph_def, class_names = rt.load_retrained(run.paths["graph"], run.paths["labels"])
    assert class_names == run.outputs["class_names"] and iv3.is_stand_in(graph_def)
    test = run.outputs["sets"]["testing"]
    images = [read_image_rgb(p) for p in test.paths]
    ts = bn.open_transfer_session(graph_def, "batch")
    with ts.session:
        exported = rt.retrained_probabilities(ts, images)
        # the plain single-image path of the exported graph: PNG decoded, fed at DecodeJpeg:0
        single = np.concatenate([ts.session.run(rt.FINAL_RESULT, {iv3.DECODED_INPUT: image}) for image in images])
    np.testing.assert_array_equal(np.argmax(exported, 1), np.argmax(run.outputs["result"].test_probabilities, 1))
    np.testing.assert_allclose(exported, run.outputs["result"].test_probabilities, atol=1e-5)
    np.testing.assert_allclose(single, run.outputs["result"].test_probabilities, atol=1e-4)
    assert isinstance(graph_def, tf.GraphDef)


def test_distortions_bypass_the_cache_and_a_hidden_layer_exports(tmp_path, stand_in):
    from cnn_cookbook import bottlenecks as bn
    from cnn_cookbook import retrain as rt

    files, _ = stand_in
    make_class_folders(tmp_path / "img", per_class=12)
    run = rt.retrain_on_folders(tmp_path / "img", files, tmp_path / "out", steps=3, train_batch_size=4,
                                hidden_units=16, optimizer="adam", learning_rate=1e-4,
                                distortions=bn.Distortions(True, 10, 10, 10), progress=False,
                                announce=lambda line: None)
    m = run.metrics
    cached = m["images"]["validation"] + m["images"]["testing"]
    assert m["bottlenecks"]["computed"] == cached  # training images never went into the cache
    assert len(list((tmp_path / "out" / "bottlenecks").rglob("*.bnk"))) == cached
    assert m["distortions"]["flip_left_right"] and m["steps"] == 3 and m["hidden_units"] == 16
    assert {k.split("/")[1] for k in run.outputs["result"].weights} == {"hidden", "final"}
    graph_def, _ = rt.load_retrained(run.paths["graph"], run.paths["labels"])
    ts = bn.open_transfer_session(graph_def, "map")
    with ts.session:
        images = [read_image_rgb(p) for p in run.outputs["sets"]["testing"].paths]
        np.testing.assert_allclose(rt.retrained_probabilities(ts, images), run.outputs["result"].test_probabilities, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Inception v3 files and bad input


def test_missing_model_bad_graph_and_bad_images_give_clear_errors(tmp_path, stand_in):
    from cnn_cookbook import bottlenecks as bn
    from cnn_cookbook import retrain as rt
    from cnn_cookbook.nets import inception_v3 as iv3

    with pytest.raises(MissingFileError, match="inception-2015-12-05.tgz") as info:
        iv3.locate_inception_v3("inception_v3", models_dir=tmp_path / "models")
    assert "download it from" in str(info.value) and "classify_image_graph_def.pb" in str(info.value)
    assert iv3.locate_inception_v3("auto", models_dir=tmp_path / "models").stand_in
    (tmp_path / "text.pb").write_text("this is not a graph")
    with pytest.raises(DataFormatError, match="not a frozen TensorFlow GraphDef"):
        iv3.load_inception_graph_def(tmp_path / "text.pb")
    from cnn_cookbook.graphs import make_stand_in_graph_def, write_graph_def

    write_graph_def(make_stand_in_graph_def([("conv", 4)]), tmp_path / "other.pb")
    with pytest.raises(DataFormatError, match="not Inception v3"):
        iv3.load_inception_graph_def(tmp_path / "other.pb")
    with pytest.raises(DataFormatError, match="not a graph exported by 'retrain'"):
        rt.load_retrained(stand_in[0].graph_path, tmp_path / "labels.txt")
    with pytest.raises(CookbookError, match="does not exist"):
        read_image_rgb(tmp_path / "missing.png")
    with pytest.raises(UnreadableImage):
        read_image_rgb(tmp_path / "text.pb")
    (tmp_path / "one" / "only_class").mkdir(parents=True)
    (tmp_path / "one" / "empty").mkdir()
    folders.write_class_folders(tmp_path / "one", {"only_class": [np.zeros((4, 4, 3), np.uint8)]})
    with pytest.raises(CookbookError, match="at least 2"):
        folders.list_class_folders(tmp_path / "one")
    # settings that used to crash in TensorFlow (a negative layer size) or be ignored silently
    # (negative distortions) are refused before any work, nothing written
    for bad in (dict(hidden_units=-5), dict(distortions=bn.Distortions(False, -50, 0, 0))):
        with pytest.raises(CookbookError, match=">= 0"):
            rt.retrain_on_folders(tmp_path / "one", stand_in[0], tmp_path / "never", progress=False, **bad)
    assert not (tmp_path / "never").exists()


def test_classify_gives_sorted_top_k_with_labels(tmp_path, stand_in):
    from cnn_cookbook.nets import inception_v3 as iv3
    from cnn_cookbook.tf1 import tf

    (tmp_path / "map.pbtxt").write_text('entry {\n  target_class: 1\n  target_class_string: "n01"\n}\n'
                                        'entry {\n  target_class: 2\n  target_class_string: "n02"\n}\n')
    (tmp_path / "synsets.txt").write_text("n01\tgiant panda, panda\nn02\tteddy bear\n")
    labels = iv3.load_imagenet_labels(tmp_path / "map.pbtxt", tmp_path / "synsets.txt")
    assert labels == {1: "giant panda, panda", 2: "teddy bear"}

    image = _class_image(2, np.random.default_rng(0))
    (tmp_path / "a.jpg").write_bytes(encode_jpeg(image))
    graph = tf.Graph()
    with graph.as_default():
        iv3.import_inception(stand_in[1])
    with tf.Session(graph=graph) as session:
        top = iv3.classify_image(session, tmp_path / "a.jpg", top_k=5, labels=labels, stand_in=True)
        assert len(top) == 5 and all(a.score >= b.score for a, b in zip(top, top[1:]))
        assert all("stand-in" in p.label for p in top) and 0 < sum(p.score for p in top) <= 1
        real_labels = iv3.classify_image(session, tmp_path / "a.jpg", top_k=1008, labels=labels)
        assert {p.label for p in real_labels if p.node_id in (1, 2)} == {"giant panda, panda", "teddy bear"}


# ---------------------------------------------------------------------------------------------
# The recipe


def test_recipe_runs_offline_end_to_end(tmp_path, capsys):
    recipe = load_recipe("retrain_inception")
    for command in ("", "prepare", "tfrecords", "classify", "retrain", "predict"):
        proc = run_in_process("retrain_inception.py", *([command] if command else []), "--help")
        assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr

    data, models, out = tmp_path / "data", tmp_path / "models", tmp_path / "run"
    proc = run_recipe("retrain_inception.py", "prepare", "--data-dir", data, "--output-dir", data / "folders",
                      "--synthetic-per-class", 12, "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(list((data / "folders" / "train_dir").rglob("*.png"))) == 120
    recipe.main(["tfrecords", "--images-dir", str(data / "folders"), "--train-shards", "4", "--validation-shards", "2",
          "--num-threads", "2", "--no-progress"])
    assert len(list((data / "folders" / "tfrecords").iterdir())) == 6

    # retrain.py's own flags (--image_dir, --how_many_training_steps, ...) are accepted
    proc = run_recipe("retrain_inception.py", "retrain", "--image_dir", data / "folders" / "train_dir",
                      "--output-dir", out, "--models-dir", models, "--how_many_training_steps", 20,
                      "--print_misclassified_test_images", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "STAND-IN" in proc.stdout and "misclassified test images:" in proc.stdout
    assert "\r" not in proc.stderr  # not a terminal: no bar redraws
    assert_tensorboard_tags(out / "tensorboard", "retrain_inception retrain")  # train/ and validation/
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "stand-in" and 0 <= metrics["test_accuracy"] <= 1 and metrics["steps"] == 20
    assert (out / "output_graph.pb").is_file() and (out / "accuracy.png").is_file()

    image = next((data / "folders" / "validation_dir" / "cat").iterdir())
    capsys.readouterr()
    recipe.main(["predict", str(image), "--graph", str(out / "output_graph.pb"),
                 "--labels", str(out / "output_labels.txt"), "--top-k", "3"])
    printed = capsys.readouterr().out
    assert "STAND-IN" in printed and len([line for line in printed.splitlines() if "%" in line]) == 3

    for argv, fragments in ((["classify", str(tmp_path / "nope.jpg")], ("nope.jpg", "does not exist")),
                            (["classify", str(image), "--model", "inception_v3", "--models-dir", str(models)],
                             ("inception-2015-12-05.tgz", "--download"))):
        with pytest.raises(SystemExit) as exit_info:
            recipe.main(argv)
        assert exit_info.value.code == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("error:") and "\n" not in error and all(f in error for f in fragments)


def test_retrain_same_seed_twice_repeats_and_the_earlier_run_is_kept_whole(tmp_path, stand_in):
    """Issue 12: a second run into the folder first moves the first one aside (exported graph,
    labels, TensorBoard events together) while the bottleneck cache stays and serves it; with
    one seed both runs train the same layer."""
    from cnn_cookbook import retrain as rt

    files, _ = stand_in
    make_class_folders(tmp_path / "img", per_class=12)
    out = tmp_path / "out"
    lines = []
    first, second = (rt.retrain_on_folders(tmp_path / "img", files, out, steps=12, train_batch_size=8,
                                           optimizer="adam", learning_rate=1e-3, seed=3, device="cpu",
                                           progress=False, announce=lines.append) for _ in range(2))
    assert any("was moved to" in line for line in lines)
    (kept,) = (out / "previous-runs").iterdir()
    assert (kept / "output_graph.pb").is_file()
    assert (kept / "output_labels.txt").read_text() == (out / "output_labels.txt").read_text()
    assert (kept / "tensorboard" / "train").is_dir() and len(list((out / "tensorboard" / "train").iterdir())) == 1
    assert second.metrics["bottlenecks"]["cached"] == first.metrics["bottlenecks"]["computed"] > 0
    timing = ("bottlenecks", "train_seconds")
    assert {k: v for k, v in first.metrics.items() if k not in timing} == \
        {k: v for k, v in second.metrics.items() if k not in timing}
    assert first.history.train == second.history.train and first.history.train["loss"]
    assert first.metrics["test_examples"] > 0
    np.testing.assert_array_equal(first.outputs["result"].test_probabilities,
                                  second.outputs["result"].test_probabilities)
    weights = first.outputs["result"].weights
    assert weights.keys() == second.outputs["result"].weights.keys()
    for name, value in weights.items():
        np.testing.assert_array_equal(value, second.outputs["result"].weights[name])


def test_classify_images_ranks_each_file_and_writes_its_transfer_values(tmp_path, stand_in):
    """Hvass #07 as a chapter function: top-k best first per image, and the .npy of pool_3 values
    equals what the batched transfer path gives for the same decoded images."""
    from cnn_cookbook import bottlenecks as bn
    from cnn_cookbook import retrain as rt
    from cnn_cookbook.nets import inception_v3 as iv3

    files, graph_def = stand_in
    images = sorted(Path(make_class_folders(tmp_path / "img", per_class=1)).glob("*/*.png"))
    run = rt.classify_images(images[:2], graph_file=files.graph_path, top_k=4,
                             transfer_values_path=tmp_path / "values.npy", device="cpu")
    tops = run.outputs["top"]
    assert run.metrics["model"] == "stand-in" and [row["image"] for row in run.metrics["predictions"]] == \
        [str(i) for i in images[:2]]
    assert all(len(top) == 4 and [p.score for p in top] == sorted((p.score for p in top), reverse=True)
               for top in tops)
    saved = np.load(run.paths["transfer_values"])
    assert saved.shape == (2, iv3.BOTTLENECK_SIZE)
    ts = bn.open_transfer_session(graph_def, "batch")
    with ts.session:
        expected = iv3.transfer_values(ts.session, ts.transfer, [read_image_rgb(i) for i in images[:2]])
    np.testing.assert_allclose(saved, expected, rtol=1e-4, atol=1e-4)
