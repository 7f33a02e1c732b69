"""Hvass-Labs #05: an ensemble of MNIST CNNs, each trained on a random 80% of train+validation.

- :func:`random_split` / :func:`subset_data`: one network's training set (a random
  ``train_fraction`` of the 60000 train+validation images) and the rest as its validation set.
- :func:`train_ensemble`: trains every network with :func:`cnn_cookbook.mnist_cnn.train_mnist`
  (each in ``<output_dir>/network<i>/checkpoints``), restores each checkpoint, predicts the
  whole test set, and compares the ensemble with the best single network.
- :func:`mean_probabilities` / :func:`compare_with_best`: NumPy only, the ensemble's prediction
  (mean of the networks' softmax outputs, as Hvass #05 does) and the comparison.

Fixed against Hvass #05: its "validation accuracy" was measured on the original 5000 validation
images, which were part of every network's random training set (inflated, 99.4-99.6%); here
each network's validation accuracy is measured on the 20% it did not train on.  Test accuracies
are over the whole test set, as in the tutorial.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnn_cookbook import plots, run_folder, training
from cnn_cookbook.datasets.mnist import MnistData, Split
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.fileio import ensure_dir, write_json
from cnn_cookbook.mnist_cnn import train_mnist
from cnn_cookbook.checkpoint_network import load_checkpoint_network
from cnn_cookbook.results import ChapterRun
from cnn_cookbook.tf1 import new_session, resolve_device, tf


def check_train_fraction(train_fraction):
    if not 0.0 < train_fraction < 1.0:
        raise CookbookError(f"the train fraction must be between 0 and 1 (exclusive), not {train_fraction}",
                            field="train_fraction")


def random_split(count, train_fraction, rng):
    """Indices of a random ``train_fraction`` of ``count`` examples and of the rest (both int64)."""
    check_train_fraction(train_fraction)
    order = rng.permutation(count)
    cut = int(train_fraction * count)
    return np.sort(order[:cut]), np.sort(order[cut:])


def subset_data(data, train_index, validation_index):
    """``data`` with train+validation pooled and re-split by the given indices; test unchanged."""
    images = np.concatenate([data.train.images, data.validation.images])
    labels = np.concatenate([data.train.labels, data.validation.labels])
    return MnistData(Split(images[train_index], labels[train_index]),
                     Split(images[validation_index], labels[validation_index]),
                     data.test, data.name, data.class_names, data.source)


def softmax(logits):
    """Row-wise softmax of [..., classes] logits (NumPy, numerically stable)."""
    logits = np.asarray(logits, np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def mean_probabilities(probabilities):
    """The ensemble's output: the mean over networks of [networks, N, classes] softmax outputs."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 3:
        raise ValueError(f"expected [networks, examples, classes], got shape {probabilities.shape}")
    return probabilities.mean(axis=0)


@dataclass
class EnsembleComparison:
    """The ensemble against its best single network on one labelled set.

    ``ensemble_better``: boolean [N], right by the ensemble and wrong by the best network;
    ``best_better``: the reverse.  Accuracies are fractions 0..1.
    """

    network_accuracies: np.ndarray
    ensemble_accuracy: float
    best_network: int
    ensemble_predictions: np.ndarray
    best_predictions: np.ndarray
    ensemble_better: np.ndarray
    best_better: np.ndarray
    ensemble_probabilities: np.ndarray = field(repr=False, default=None)

    def summary(self):
        return {"network_test_accuracies": [float(a) for a in self.network_accuracies],
                "mean_network_test_accuracy": float(np.mean(self.network_accuracies)),
                "min_network_test_accuracy": float(np.min(self.network_accuracies)),
                "best_network": int(self.best_network),
                "best_network_test_accuracy": float(self.network_accuracies[self.best_network]),
                "ensemble_test_accuracy": float(self.ensemble_accuracy),
                "ensemble_better_count": int(self.ensemble_better.sum()),
                "best_network_better_count": int(self.best_better.sum())}


def compare_with_best(probabilities, labels):
    """Compare the mean-softmax ensemble of [networks, N, classes] ``probabilities`` with its best net."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    network_predictions = probabilities.argmax(axis=2)
    network_accuracies = (network_predictions == labels[None, :]).mean(axis=1)
    best = int(np.argmax(network_accuracies))
    ensemble_probabilities = mean_probabilities(probabilities)
    ensemble_predictions = ensemble_probabilities.argmax(axis=1)
    ensemble_correct = ensemble_predictions == labels
    best_correct = network_predictions[best] == labels
    return EnsembleComparison(network_accuracies, float(ensemble_correct.mean()), best,
                              ensemble_predictions, network_predictions[best],
                              ensemble_correct & ~best_correct, best_correct & ~ensemble_correct,
                              ensemble_probabilities)


def checkpoint_probabilities(checkpoint_dir, images, *more_images, device="auto", batch_size=1000):
    """Softmax outputs [N, classes] of the network saved in ``checkpoint_dir`` on ``images``.

    Rebuilds the network named in the folder's ``network.json`` in a fresh graph and restores
    only its weights from the latest checkpoint (see
    :func:`cnn_cookbook.checkpoint_network.load_checkpoint_network`).  With ``more_images`` (other image
    arrays), returns a list with one array of outputs per image array, from one restore.
    """
    graph = tf.Graph()
    with graph.as_default():
        network = load_checkpoint_network(checkpoint_dir)
        probabilities = tf.nn.softmax(network.logits)
        with new_session(graph, device) as session:
            network.restore(session)
            outputs = [training.predict_in_batches(session, probabilities, network.images, part, batch_size)
                       for part in (images, *more_images)]
    return outputs if more_images else outputs[0]


def _check_split(directory, split):
    """Refuse to evaluate a network on a split other than the one it was trained on."""
    path = Path(directory) / "split.json"
    if not path.is_file():
        raise CookbookError(f"no trained network in {directory} (no split.json); train the ensemble first")
    stored = json.loads(path.read_text())
    different = [k for k in split if stored.get(k) != split[k]]
    if different:
        raise CookbookError(f"{directory} was trained with " + ", ".join(f"{k}={stored.get(k)}" for k in different)
                            + "; evaluate it with the same seed, train fraction and data set", field=tuple(different))


def network_dirs(output_dir, count):
    return [Path(output_dir) / f"network{i}" for i in range(count)]


def train_ensemble(data, num_networks=5, model="hvass-cnn", output_dir="runs/mnist_ensemble", seed=0,
                   device="auto", train_fraction=0.8, resume=False, train=True, checkpoint_every=1000,
                   progress=True, announce=print, summaries_dir=None, histogram_every=0, **overrides):
    """Train ``num_networks`` networks on random splits and evaluate them as an ensemble.

    Network ``i`` trains on ``random_split(..., rng=default_rng([seed, i]))`` with TF seed
    ``seed + i``, so a resumed or re-evaluated run sees the same splits.  With ``train=False``
    the networks already in ``output_dir`` are only evaluated (the tutorial's "skip training").
    ``overrides`` are :class:`cnn_cookbook.mnist_cnn.MnistHyperparameters` fields (steps, ...).
    Returns a :class:`ChapterRun` with ``outputs["comparison"]`` (an :class:`EnsembleComparison`)
    and ``outputs["probabilities"]`` ([networks, test examples, classes]), and each network's
    checkpoint folder as ``paths["network<i>_checkpoints"]``; nothing but checkpoints and TensorBoard events is written
    (network ``i``'s events in ``network<i>/tensorboard/``, or ``<summaries_dir>/network<i>/``).
    """
    if num_networks < 1:
        raise CookbookError(f"an ensemble needs at least 1 network, not {num_networks}", field="num_networks")
    output_dir = ensure_dir(output_dir, field="output_dir")
    if train and not resume:  # a fresh ensemble: the earlier one (its networks too) moves aside whole
        run_folder.keep_earlier_run(output_dir)
    pooled = len(data.train) + len(data.validation)
    networks, test_probabilities = [], []
    for i, directory in enumerate(network_dirs(output_dir, num_networks)):
        train_index, validation_index = random_split(pooled, train_fraction, np.random.default_rng([seed, i]))
        subset = subset_data(data, train_index, validation_index)
        entry = {"network": i, "train_examples": int(len(train_index)),
                 "validation_examples": int(len(validation_index))}
        split = {"seed": seed, "network": i, "train_fraction": train_fraction, "pooled_examples": pooled,
                 "dataset": data.name}
        if not train:
            _check_split(directory, split)
        else:
            announce(f"network {i}: training on {len(train_index)} random images, "
                     f"{len(validation_index)} held out for validation")
            run = train_mnist(subset, model, directory, seed=seed + i, device=device, resume=resume,
                              checkpoint_every=checkpoint_every, progress=progress, figures=False,
                              summaries_dir=Path(summaries_dir) / directory.name if summaries_dir else None,
                              histogram_every=histogram_every, **overrides)
            write_json(directory / "split.json", split)  # how to draw this network's split again
            entry.update(steps=run.metrics["steps"], train_seconds=run.metrics["train_seconds"],
                         images_per_second=run.metrics["images_per_second"])
        checkpoint_dir = directory / "checkpoints"
        if not (checkpoint_dir / training.NETWORK_INFO).is_file():
            raise CookbookError(f"no trained network in {checkpoint_dir}; train the ensemble first")
        validation, test = checkpoint_probabilities(checkpoint_dir, subset.validation.images, data.test.images,
                                                    device=device)
        entry["validation_accuracy"] = float(np.mean(validation.argmax(1) == subset.validation.labels))
        entry["checkpoint_dir"] = str(checkpoint_dir)
        networks.append(entry)
        test_probabilities.append(test)
    probabilities = np.stack(test_probabilities)
    comparison = compare_with_best(probabilities, data.test.labels)
    for entry, accuracy in zip(networks, comparison.network_accuracies):
        entry["test_accuracy"] = float(accuracy)
    metrics = {"recipe": "mnist_ensemble", "model": model, "dataset": data.name,
               "networks": networks, "train_fraction": train_fraction, "test_examples": int(len(data.test)),
               **comparison.summary(), "seed": seed, "device": resolve_device(device),
               "tensorflow": tf.VERSION}
    return ChapterRun(metrics, ensemble_figures(data, comparison),
                      paths={f"network{n['network']}_checkpoints": Path(n["checkpoint_dir"]) for n in networks},
                      outputs={"comparison": comparison, "probabilities": probabilities})


def ensemble_figures(data, comparison, count=9):
    """Accuracy per network and ensemble; test images where the ensemble beats / loses to the best net."""
    figures = {}
    fig = plots.new_figure()
    ax = fig.add_subplot()
    accuracies = 100 * np.append(comparison.network_accuracies, comparison.ensemble_accuracy)
    names = [f"net {i}" for i in range(len(comparison.network_accuracies))] + ["ensemble"]
    colours = ["tab:blue"] * len(comparison.network_accuracies) + ["tab:red"]
    ax.bar(names, accuracies, color=colours)
    low = max(0.0, accuracies.min() - 2.0)
    ax.set(ylim=(low, min(100.0, accuracies.max() + 0.5)), ylabel="test accuracy (%)",
           title="Single networks and the ensemble (mean softmax)")
    for x, value in enumerate(accuracies):
        ax.text(x, value, f"{value:.2f}", ha="center", va="bottom", fontsize=8)
    figures["ensemble_accuracy"] = fig
    names = data.class_names
    for key, mask, title in (("ensemble_better", comparison.ensemble_better,
                              "Ensemble right, best single network wrong"),
                             ("best_network_better", comparison.best_better,
                              "Best single network right, ensemble wrong")):
        index = np.flatnonzero(mask)[:count]
        if len(index) == 0:
            continue
        titles = [f"True: {names[data.test.labels[i]]}\nEnsemble: {names[comparison.ensemble_predictions[i]]}"
                  f"\nBest net: {names[comparison.best_predictions[i]]}" for i in index]
        figures[key] = plots.image_grid(data.test.images[index], titles, cols=3, title=title)
    return figures
