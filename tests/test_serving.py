"""SavedModel export: MNIST, CIFAR-10 and the retrained top layer answer from a fresh process.

Each exported model is loaded in a new Python process two ways - TF1's
``tf.saved_model.loader.load`` into a Session, and TF 2.x's eager ``tf.saved_model.load`` - and
must predict what the training session predicted.  ``saved_model_cli show --all`` must list the
``serving_default`` signature.  TensorFlow 1.15 has no eager loader of TF1 SavedModels under
``tf.saved_model.load`` (there that name is the Session loader), so the eager part is skipped on
1.x and says so.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, load_recipe

# Runs in a fresh process: load every SavedModel named in the job file with TF1's Session loader
# and feed it the saved inputs.  It uses the raw TensorFlow API, not cnn_cookbook.serving.
SESSION_LOADER = r"""
import json, sys
import numpy as np
from cnn_cookbook.tf1 import tf
job = json.load(open(sys.argv[1]))
out = {}
for name, item in job.items():
    graph = tf.Graph()
    with tf.Session(graph=graph) as session:
        meta = tf.saved_model.loader.load(session, ["serve"], item["dir"])
        signature = meta.signature_def["serving_default"]
        (key, info), = signature.inputs.items()
        data = np.load(item["inputs"], allow_pickle=True)["x"]
        result = session.run({k: v.name for k, v in signature.outputs.items()}, {info.name: data})
    out[name + "_probabilities"] = result["probabilities"]
    out[name + "_classes"] = result["classes"]
    out[name + "_labels"] = result["labels"].astype(str)
np.savez(sys.argv[2], **out)
"""

# Eager loading must not import cnn_cookbook.tf1, which switches the process to graph mode;
# so this script imports TensorFlow itself (the one place outside tf1.py, and only in a test).
EAGER_LOADER = r"""
import json, sys
import numpy as np
import tensorflow as tf
if int(tf.__version__.split(".")[0]) < 2:
    print("SKIP"); sys.exit(0)
job = json.load(open(sys.argv[1]))
out = {}
for name, item in job.items():
    serve = tf.saved_model.load(item["dir"]).signatures["serving_default"]
    (key,) = serve.structured_input_signature[1].keys()
    data = np.load(item["inputs"], allow_pickle=True)["x"]
    data = tf.constant(list(data)) if data.dtype == object else tf.constant(data)
    result = serve(**{key: data})
    out[name + "_probabilities"] = result["probabilities"].numpy()
    out[name + "_classes"] = result["classes"].numpy()
np.savez(sys.argv[2], **out)
"""


def _fresh_process(script, job, tmp_path, name):
    env = dict(os.environ, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
    job_file, result_file = tmp_path / f"{name}.json", tmp_path / f"{name}.npz"
    job_file.write_text(json.dumps(job))
    proc = subprocess.run([sys.executable, "-c", script, str(job_file), str(result_file)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return None if proc.stdout.strip() == "SKIP" else dict(np.load(result_file))


def saved_model_cli():
    """The command for ``saved_model_cli``: the console script beside this Python (both stacks
    install one), else the module TensorFlow 2.x keeps it in."""
    script = Path(sys.executable).with_name("saved_model_cli")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


@pytest.fixture(scope="module")
def exported(mnist_dir, tmp_path_factory):
    """Three classifiers trained a few steps, exported, with the training session's test predictions."""
    from cnn_cookbook import retrain as rt
    from cnn_cookbook import serving
    from cnn_cookbook.cifar10_cnn import train_cifar10
    from cnn_cookbook.datasets import cifar10 as c10
    from cnn_cookbook.io.images import read_image_rgb
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.mnist_cnn import train_mnist
    from cnn_cookbook.nets import inception_v3 as iv3
    from test_retrain import make_class_folders

    root = tmp_path_factory.mktemp("serving")
    models = {}

    data = load_mnist("idx", mnist_dir)
    run = train_mnist(data, "cookbook", root / "mnist", seed=0, device="cpu", progress=False, figures=False,
                      steps=20, eval_every=20)
    models["mnist"] = dict(dir=serving.export_checkpoint(run.paths["checkpoints"], root / "mnist_sm"),
                           x=data.test.images[:300], expected=run.outputs["test_probabilities"][:300],
                           names=list(data.class_names), run_dir=root / "mnist")

    cifar = c10.write_synthetic_cifar(root / "cifar", train_per_class=6, test_per_class=3, seed=3)
    run = train_cifar10(cifar / c10.BINARY_FOLDER, "hvass", root / "cifar_run", pipeline="dataset", steps=3,
                        batch_size=16, eval_every=3, shuffle_buffer=20, progress=False, dataset="synthetic")
    assert "distorted_images" in run.figures  # Hvass #06's figure (tests/test_plots.py checks its content)
    pixels, _ = c10.read_binary_split(cifar / c10.BINARY_FOLDER, "test")
    # the signature takes whole 32x32 images (0..1) and crops them to the network's 24x24 itself
    models["cifar"] = dict(dir=serving.export_checkpoint(run.paths["checkpoints"], root / "cifar_sm"),
                           x=pixels.astype(np.float32) / 255.0, expected=run.outputs["test_probabilities"],
                           names=list(c10.CLASS_NAMES))

    files = iv3.locate_inception_v3("stand-in", models_dir=root / "models")
    make_class_folders(root / "img", per_class=12, extension=".jpg")
    run = rt.retrain_on_folders(root / "img", files, root / "retrain", steps=30, seed=1, progress=False, testing_percentage=30,
                                announce=lambda line: None, export_savedmodel=root / "retrain_sm")
    test = run.outputs["sets"]["testing"]
    assert len(test.paths) >= 2
    # what the recipe's training session saw: the same files, decoded by the package's reader
    assert all(read_image_rgb(p).shape == (24, 24, 3) for p in test.paths)
    models["retrain"] = dict(dir=Path(run.metrics["savedmodel"]), x=np.array([p.read_bytes() for p in test.paths],
                                                                              dtype=object),
                             expected=run.outputs["result"].test_probabilities, names=run.outputs["class_names"],
                             paths=test.paths, models_dir=root / "models")
    for name, item in models.items():
        inputs = root / f"{name}_inputs.npz"
        np.savez(inputs, x=item["x"])
        item["inputs"] = inputs
    return models


def _job(exported):
    return {name: {"dir": str(item["dir"]), "inputs": str(item["inputs"])} for name, item in exported.items()}


def test_session_loader_in_a_fresh_process_predicts_what_training_predicted(exported, tmp_path):
    result = _fresh_process(SESSION_LOADER, _job(exported), tmp_path, "session")
    for name, item in exported.items():
        probabilities = result[name + "_probabilities"]
        np.testing.assert_allclose(probabilities, item["expected"], atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(result[name + "_classes"], np.argmax(item["expected"], 1), err_msg=name)
        np.testing.assert_array_equal(result[name + "_labels"],
                                      np.array(item["names"])[np.argmax(item["expected"], 1)], err_msg=name)
        names = (Path(item["dir"]) / "assets" / "class_names.txt").read_text().splitlines()
        assert names == item["names"], name


def test_eager_loader_in_a_fresh_process_predicts_what_training_predicted(exported, tmp_path):
    result = _fresh_process(EAGER_LOADER, _job(exported), tmp_path, "eager")
    if result is None:
        pytest.skip("TensorFlow 1.x: tf.saved_model.load is the Session loader there; the eager loader "
                    "of TF1 SavedModels exists from TensorFlow 2.0 on")
    for name, item in exported.items():
        np.testing.assert_allclose(result[name + "_probabilities"], item["expected"], atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(result[name + "_classes"], np.argmax(item["expected"], 1), err_msg=name)


def test_saved_model_cli_lists_the_serving_signature(exported):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([*saved_model_cli(), "show", "--dir", str(exported["retrain"]["dir"]), "--all"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "signature_def['serving_default']" in out
    for fragment in ("inputs['image_bytes']", "DT_STRING", "outputs['probabilities']", "outputs['classes']",
                     "outputs['labels']", "tensorflow/serving/predict"):
        assert fragment in out, fragment


def test_recipes_export_a_finished_run_and_predict_reads_a_savedmodel(exported, mnist_dir, tmp_path, capsys):
    from cnn_cookbook import serving

    # --resume with no steps left: nothing trains, the finished run is exported
    item = exported["mnist"]
    load_recipe("mnist_cnn.py").main(["--dataset", "idx", "--data-dir", str(mnist_dir), "--output-dir",
                                       str(item["run_dir"]), "--steps", "20", "--eval-every", "20", "--resume",
                                       "--no-progress", "--device", "cpu", "--export-savedmodel",
                                       str(tmp_path / "again")])
    metrics = json.loads((item["run_dir"] / "metrics.json").read_text())
    assert metrics["steps_this_run"] == 0 and metrics["savedmodel"] == str(tmp_path / "again")
    served = serving.load(tmp_path / "again")
    with served.session:
        probabilities, classes = serving.predict(served, item["x"])
    np.testing.assert_allclose(probabilities, item["expected"], atol=1e-5)
    assert served.class_names == item["names"]

    # a second export over the first replaces it whole
    serving.export_checkpoint(item["run_dir"] / "checkpoints", tmp_path / "again")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".again")) == []

    retrain = exported["retrain"]
    capsys.readouterr()
    load_recipe("retrain_inception.py").main(["predict", *map(str, retrain["paths"][:2]), "--graph",
                                               str(retrain["dir"]), "--top-k", "2", "--device", "cpu"])
    printed = capsys.readouterr().out.splitlines()
    assert "STAND-IN" in printed[0]
    best = retrain["names"][int(np.argmax(retrain["expected"][0]))]
    assert printed[1].split()[-1] == best and len([line for line in printed if "%" in line]) == 4


def test_bad_export_folders_and_inputs_are_one_line_errors(exported, tmp_path, capsys):
    from cnn_cookbook import serving
    from cnn_cookbook.errors import CookbookError

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(CookbookError, match="not a SavedModel"):
        serving.export_checkpoint(exported["mnist"]["run_dir"] / "checkpoints", tmp_path / "notes")
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    with pytest.raises(CookbookError, match="no saved_model.pb"):
        serving.load(tmp_path / "notes")
    served = serving.load(exported["retrain"]["dir"])
    with served.session, pytest.raises(CookbookError, match="refused the input"):
        serving.predict(served, [b"these bytes are no image"])
    with pytest.raises(SystemExit) as exit_info:
        load_recipe("retrain_inception.py").main(["predict", str(tmp_path / "notes" / "keep.txt"), "--graph",
                                                   str(exported["mnist"]["dir"]), "--device", "cpu"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "\n" not in error and "not encoded images" in error
