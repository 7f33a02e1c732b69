"""recipes/adversarial_noise.py and recipes/adversarial_image.py as subprocesses, tiny settings."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error, assert_tensorboard_tags, run_in_process, run_recipe



def write_small_mnist(directory, unique=300, train=5100, test=200):
    """MNIST idx files of synthetic digits, small enough for quick recipe runs: ``train`` images
    (``unique`` digits repeated; the recipes hold the last 5000 out for validation) and ``test``."""
    from cnn_cookbook.datasets.idx import write_idx
    from cnn_cookbook.datasets.synthetic import synthetic_digits

    images, labels = synthetic_digits(unique + test, seed=11)
    repeat = np.resize(np.arange(unique), train)
    write_idx(directory / "train-images-idx3-ubyte.gz", images[repeat])
    write_idx(directory / "train-labels-idx1-ubyte.gz", labels[repeat])
    write_idx(directory / "t10k-images-idx3-ubyte.gz", images[unique:])
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", labels[unique:])
    return directory


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory):
    return write_small_mnist(tmp_path_factory.mktemp("small_mnist"))


def run_twice(recipe, argv, out, names, events_run):
    """Run a recipe twice into ``out`` (issue 12): the second run moves the first aside whole,
    so ``names``, metrics.json and the TensorBoard run ``events_run`` are in both folders, the
    new run's events alone in ``out``.  Returns (kept folder, first metrics, second metrics)."""
    assert run_in_process(recipe, *argv).returncode == 0
    proc = run_in_process(recipe, *argv)
    assert proc.returncode == 0, proc.stderr
    assert "was moved to" in proc.stdout
    (kept,) = (out / "previous-runs").iterdir()
    for name in ("metrics.json",) + tuple(names):
        assert (kept / name).is_file() and (out / name).is_file(), name
    assert (kept / "tensorboard" / events_run).is_dir()
    assert len(list((out / "tensorboard" / events_run).iterdir())) == 1
    return (kept,) + tuple(json.loads((folder / "metrics.json").read_text()) for folder in (kept, out))


@pytest.fixture(scope="module")
def checkpoint(small_mnist, tmp_path_factory):
    """A Hvass CNN checkpoint written by the MNIST chapter's own training (briefly trained)."""
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.mnist_cnn import train_mnist

    data = load_mnist("idx", small_mnist)
    run = train_mnist(data, "hvass-cnn", tmp_path_factory.mktemp("mnist_run"), seed=0, device="cpu",
                      progress=False, steps=60, learning_rate=1e-3, eval_every=60, eval_size=100)
    return run.paths["checkpoints"]


def test_adversarial_noise_recipe_from_a_checkpoint(checkpoint, small_mnist, tmp_path):
    out = tmp_path / "noise"
    proc = run_recipe("adversarial_noise.py", "--dataset", "idx", "--data-dir", small_mnist, "--output-dir", out,
                      "--checkpoint", checkpoint, "--target", "5", "--target-steps", "20", "--all-steps", "2",
                      "--immunity-targets", "5", "--immunity-repeats", "1", "--immunity-adversary-steps", "10",
                      "--immunity-steps", "10")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["restored_from"] == str(checkpoint) and metrics["target"] == 5
    for key in ("clean_accuracy_before", "noisy_accuracy_target", "noisy_accuracy_before",
                "clean_accuracy_after", "noisy_accuracy_after", "fresh_attack_accuracy_after"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert len(metrics["immunity_rounds"]) == 1 and len(metrics["noisy_accuracy_per_target_before"]) == 10
    noises = np.load(out / "noise.npz")
    assert noises["all_noise"].shape == (10, 28, 28, 1) and np.abs(noises["all_noise"]).max() <= 0.35 + 1e-6
    assert {p.name for p in out.glob("*.png")} >= {"noise_target.png", "noise_all_targets.png",
                                                  "noisy_examples.png", "immunity.png"}
    assert_tensorboard_tags(out / "tensorboard", "adversarial_noise")  # train/, adversary/, eval/


def test_adversarial_image_recipe_on_a_checkpoint(checkpoint, small_mnist, tmp_path):
    out = tmp_path / "image"
    proc = run_in_process("adversarial_image.py", "--checkpoint", checkpoint, "--dataset", f"idx:{small_mnist}",
                          "--output-dir", out, "--count", "4", "--steps", "5", "--epsilons", "0,0.2",
                          "--fgsm-count", "150")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    targeted, curve = metrics["targeted"], metrics["fgsm"]["curve"]
    assert targeted["images"] == 4 and targeted["max_abs_noise_0_255"] <= 3.0 + 1e-3
    # an image stops changing early only once its target score is reached (--steps 5, score 0.99)
    assert len(targeted["per_image"]) == 4 and all(0 <= image["steps"] <= 5 for image in targeted["per_image"])
    assert all(image["target_score"] >= targeted["required_score"] for image in targeted["per_image"]
               if image["steps"] < targeted["max_steps"])
    assert [row["epsilon"] for row in curve] == [0.0, 0.2] and curve[0]["examples"] == 150
    assert curve[1]["accuracy"] < curve[0]["accuracy"]
    assert {p.name for p in out.glob("*.png")} >= {"targeted_0.png", "fgsm_accuracy.png", "fgsm_examples.png"}
    assert_tensorboard_tags(out / "tensorboard", "adversarial_image")


def test_adversarial_image_recipe_without_a_checkpoint_says_what_to_do(tmp_path):
    proc = run_in_process("adversarial_image", "--checkpoint", tmp_path / "nothing", "--output-dir", tmp_path / "o")
    assert_one_line_error(proc, "network.json")
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_adversarial_image_recipe_on_the_inception_stand_in(tmp_path):
    out = tmp_path / "inception"
    proc = run_in_process("adversarial_image", "--inception", "stand-in", "--models-dir", tmp_path / "models",
                          "--output-dir", out, "--steps", "3", "--epsilons", "0,0.1")
    assert proc.returncode == 0, proc.stderr
    assert "STAND-IN" in proc.stdout  # never passed off as Inception v3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["targeted"]["target"] == 300 and metrics["targeted"]["max_abs_noise_0_255"] <= 3.0 + 1e-3
    assert metrics["fgsm"]["curve"][0]["accuracy"] == 1.0  # epsilon 0 keeps the network's own prediction
    assert (out / "input.png").is_file() and (out / "targeted_0.png").is_file()


def test_adversarial_noise_same_seed_twice_repeats_and_the_earlier_run_is_kept_whole(small_mnist, tmp_path,
                                                                                       capsys):
    """Issue 12: a second run into the folder first moves the first one aside (its noise and
    TensorBoard events together); with one seed both runs find the same noise, also when a
    notebook passes the same data set twice.  (The chapter function itself: the recipe's PNGs
    would double the time, and the image recipe's test checks that plots move with a run.)"""
    from cnn_cookbook.adversarial import NoiseSettings, universal_noise_experiment
    from cnn_cookbook.datasets.mnist import load_mnist

    data, out = load_mnist("idx", small_mnist), tmp_path / "noise"
    settings = NoiseSettings(steps=6, batch_size=16, target_steps=4, all_steps=1, immunity_targets=(5,),
                             immunity_repeats=1, immunity_adversary_steps=1, immunity_steps=1)
    first, second = (universal_noise_experiment(data, settings, output_dir=out, seed=4, device="cpu")
                     for _ in range(2))
    assert "was moved to" in capsys.readouterr().out
    (kept,) = (out / "previous-runs").iterdir()
    assert (kept / "noise.npz").is_file() and (kept / "tensorboard" / "adversary").is_dir()
    assert second.paths["noise"] == out / "noise.npz" and len(list((out / "tensorboard" / "adversary").iterdir())) == 1
    assert first.metrics == second.metrics and np.abs(first.outputs["all_noise"]).max() > 0
    with np.load(kept / "noise.npz") as a, np.load(out / "noise.npz") as b:
        assert set(a.files) == {"target_noise", "all_noise"}
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])
            np.testing.assert_array_equal(a[name], first.outputs[name])


def test_adversarial_image_same_seed_twice_repeats_and_the_earlier_run_is_kept_whole(checkpoint, small_mnist,
                                                                                       tmp_path):
    out = tmp_path / "image"
    argv = ["--checkpoint", checkpoint, "--dataset", f"idx:{small_mnist}", "--output-dir", out, "--count", "2",
            "--steps", "3", "--epsilons", "0,0.2", "--fgsm-count", "40", "--seed", "2", "--device", "cpu",
            "--no-progress"]
    _, first, second = run_twice("adversarial_image", argv, out, ("targeted_0.png", "fgsm_accuracy.png"),
                                 "eval")
    assert first == second and first["targeted"]["mean_steps"] > 0


@pytest.mark.parametrize("recipe, args", [
    ("adversarial_noise", ["--dataset", "synthetic"]),
    ("adversarial_image", ["--model", "stand-in"]),
    ("retrain_inception", ["retrain", "--model", "stand-in"]),
])
def test_a_second_run_into_a_held_folder_stops_at_once(recipe, args, tmp_path):
    """Issue 12: one run per output folder; the one holding it (another process) is named."""
    import subprocess
    import sys

    out = tmp_path / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from cnn_cookbook.run_folder import claim\n"
                               f"with claim({str(out)!r}):\n print('held', flush=True); sys.stdin.read()"],
        cwd=Path(__file__).resolve().parents[1], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        flags = ["--output-dir", out, "--models-dir", tmp_path / "models"] if recipe != "adversarial_noise" \
            else ["--output-dir", out]
        proc = run_in_process(recipe, *args, *flags)
    finally:
        holder.communicate("")
    assert_one_line_error(proc, "in use by another run", f"process {holder.pid}")
    assert not (out / "metrics.json").exists()


def test_a_target_the_network_lacks_is_one_line_naming_the_flag_and_moves_nothing(checkpoint, small_mnist,
                                                                                    tmp_path):
    """The library's error names the setting; the command line adds the flag.  It stops the run
    before the earlier one in the folder is moved aside."""
    out = tmp_path / "image"
    (out / "tensorboard").mkdir(parents=True)
    (out / "metrics.json").write_text("{}")
    proc = run_in_process("adversarial_image", "--checkpoint", checkpoint, "--dataset", f"idx:{small_mnist}",
                          "--output-dir", out, "--target", "10")
    assert_one_line_error(proc, "target 10 is not a class of this network (0..9)", "(set with --target)")
    assert (out / "metrics.json").read_text() == "{}" and not (out / "previous-runs").exists()
