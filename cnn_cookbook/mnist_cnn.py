"""The MNIST chapter as a library call: cookbook CNN, Hvass #01 linear, Hvass #02/#04 CNN.

:func:`train_mnist` builds the graph, trains with the shared loop, evaluates on the whole test
set and returns a :class:`cnn_cookbook.results.ChapterRun` (metrics, history, figures, the
checkpoint folder, the test set's probabilities) for a recipe or a notebook.
"""

import contextlib
import time
from dataclasses import dataclass, replace

import numpy as np

from cnn_cookbook import cluster as clusters
from cnn_cookbook import plots, run_folder, summaries, training
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.fileio import ensure_dir
from cnn_cookbook.nets import get_network
from cnn_cookbook.results import ChapterRun
from cnn_cookbook.tf1 import new_session, resolve_device, seed_everything, tf


@dataclass(frozen=True)
class MnistHyperparameters:
    """One model's defaults, as its tutorial has them."""

    network: str
    optimizer: str          # momentum | sgd | adam
    learning_rate: float
    batch_size: int
    steps: int
    eval_every: int         # steps between periodic evaluations
    eval_size: int          # random test images per periodic evaluation (the book's 500)
    momentum: float = 0.9
    sampling: str = "epoch"  # epoch: TF1 next_batch; replacement: the cookbook's np.random.choice
    patience: int = 1000    # early stopping: steps without validation improvement (Hvass #04)

    def optimizer_factory(self):
        """``rate -> Optimizer`` (:func:`cnn_cookbook.training.optimizer_factory`) of these settings."""
        options = {"momentum": self.momentum} if self.optimizer == "momentum" else {}
        return training.optimizer_factory(self.optimizer, **options)


MODELS = {
    # cookbook ch. 8: Momentum 0.9, lr 0.005, batch 100, 500 generations, 500 test images every 5
    "cookbook": MnistHyperparameters("cookbook", "momentum", 0.005, 100, 500, 5, 500, sampling="replacement"),
    # Hvass #01: plain gradient descent 0.5, batch 100, 1000 iterations
    "linear": MnistHyperparameters("linear", "sgd", 0.5, 100, 1000, 100, 1000),
    # Hvass #02 (and #04 with --early-stopping): Adam 1e-4, batch 64, 10000 iterations
    "hvass-cnn": MnistHyperparameters("hvass-cnn", "adam", 1e-4, 64, 10000, 100, 1000),
    # Hvass #03: the #02 network and settings, built with the chainable builder (nets/chain.py)
    "hvass-chain": MnistHyperparameters("hvass-chain", "adam", 1e-4, 64, 10000, 100, 1000),
}


@run_folder.claiming
def train_mnist(data, model="cookbook", output_dir="runs/mnist_cnn", seed=0, device="auto",
                resume=False, early_stopping=False, checkpoint_every=100, progress=True, figures=True,
                summaries_dir=None, histogram_every=0, cluster=None, **overrides):
    """Train ``model`` on ``data`` (:class:`cnn_cookbook.datasets.mnist.MnistData`).

    ``overrides`` replace any :class:`MnistHyperparameters` field (steps, batch_size, learning_rate,
    eval_every, eval_size, patience, ...).  Writes checkpoints, TensorBoard events (train/,
    eval/ and with early stopping validation/ under ``summaries_dir``, default
    ``output_dir/tensorboard``; histograms every ``histogram_every`` steps) and
    ``network.json`` under ``output_dir``; metrics and plots are returned, not written
    (``figures=False`` skips drawing them, for callers that train many networks).  Returns a
    :class:`ChapterRun`: ``paths["checkpoints"]``, ``outputs["test_probabilities"]`` [N_test, classes].

    ``cluster`` (a worker's :class:`cnn_cookbook.cluster.ClusterConfig`) trains this process's
    shard of the training set as one worker of a cluster; only the chief evaluates and writes.
    """
    hp = replace(MODELS[model], **training.given(overrides))
    training.check_batch_size(hp.batch_size, len(data.train), f"the training split of {data.name}")
    if cluster is not None and early_stopping:
        raise CookbookError("early stopping runs in a single process only (the workers would stop apart)",
                            field="early_stopping")
    worker = clusters.Worker(cluster) if cluster is not None else None
    chief = worker is None or worker.is_chief
    if worker is not None:  # each worker its own examples and its own random stream
        data = replace(data, train=data.train.shard(cluster.task_index, cluster.num_workers))
        seed = seed + cluster.task_index
    output_dir = ensure_dir(output_dir, field="output_dir")
    checkpoint_dir = output_dir / "checkpoints"
    graph = tf.Graph()
    with graph.as_default():
        rng = seed_everything(seed)
        placement = tf.device(worker.device_setter()) if worker else contextlib.nullcontext()
        with placement:
            optimizer = hp.optimizer_factory()
            net = training.build_classifier(get_network(hp.network), data.image_shape, len(data.class_names),
                                            worker.optimizer_factory(optimizer) if worker else optimizer,
                                            hp.learning_rate)
            step_after = worker.step_after(net.train_op, net.global_step) if worker else None
            checkpoints = training.Checkpoints(checkpoint_dir)
        best = training.Checkpoints(output_dir / "best", max_to_keep=1) if early_stopping else None
        if not resume and chief:  # the first write of a fresh run: an earlier run moves aside whole
            run_folder.keep_earlier_run(output_dir, summaries_dir=summaries_dir)
        summaries.add_input_images(net.images)
        if histogram_every:
            summaries.add_histograms(net.endpoints)
        writer = summaries.RunWriters(summaries.events_folder(output_dir, summaries_dir), graph,
                                      histogram_every) if chief else None
        last_batch = {}

        def feed():
            sample = data.train.sample if hp.sampling == "replacement" else data.train.next_batch
            last_batch["images"], last_batch["labels"] = sample(hp.batch_size, rng)
            return {net.images: last_batch["images"], net.labels: last_batch["labels"],
                    net.training: True}

        def evaluate(session):
            # the book's periodic check: a random sample of the test set
            images, labels = data.test.sample(min(hp.eval_size, len(data.test)), rng)
            results = {"test_accuracy": session.run(net.accuracy, {net.images: images, net.labels: labels})}
            if early_stopping:
                results["validation_accuracy"] = training.evaluate_classifier(
                    session, net, data.validation.images, data.validation.labels)[0]
            return results

        best_seen = [-1.0]

        def describe(step, values, results):
            shown = " ".join(f"{k.replace('_accuracy', ' acc')} {100 * v:.2f}%" for k, v in results.items())
            # Hvass #04 marks the evaluations where the validation accuracy improved
            improved = results.get("validation_accuracy", -1.0) > best_seen[0]
            best_seen[0] = max(best_seen[0], results.get("validation_accuracy", -1.0))
            return (f"step {step}: loss {values['loss']:.3f} train acc {100 * values['accuracy']:.2f}% {shown}"
                    + (" *" if improved else ""))

        opened = worker.session(checkpoints, resume) if worker else _local_session(graph, device, checkpoints, resume)
        with opened as (session, start):
            if not chief:  # a worker only trains; the chief evaluates, checkpoints and reports
                result = training.fit(session, net, hp.steps, start_step=start, feed=feed, progress=progress,
                                      global_step=step_after)
                return ChapterRun(_worker_metrics(cluster, result), history=result.history,
                                  paths={"checkpoints": checkpoint_dir})
            training.write_network_info(checkpoint_dir, network=hp.network, image_shape=list(data.image_shape),
                                        num_classes=len(data.class_names), class_names=list(data.class_names),
                                        dataset=data.name)
            stopper = training.EarlyStopping("validation_accuracy", hp.patience, best) if early_stopping else None
            began = time.time()
            result = training.fit(session, net, hp.steps, start_step=start, feed=feed, evaluate=evaluate,
                                  eval_every=hp.eval_every, checkpoints=checkpoints,
                                  checkpoint_every=checkpoint_every, summary_writer=writer,
                                  early_stopping=stopper, progress=progress, describe=describe,
                                  global_step=step_after)
            wall = time.time() - began
            test_accuracy, probabilities = training.evaluate_classifier(
                session, net, data.test.images, data.test.labels)
            validation_accuracy = training.evaluate_classifier(
                session, net, data.validation.images, data.validation.labels)[0]
            drawn = mnist_figures(session, net, hp, data, last_batch, probabilities) if figures else {}
        writer.close()
    steps_run = result.steps_run
    # in sync mode one step averages one batch from each of the replicas
    examples_per_step = hp.batch_size * (cluster.replicas if cluster is not None and cluster.sync else 1)
    metrics = {
        "recipe": "mnist_cnn", "model": model, "dataset": data.name, "steps": result.final_step,
        "steps_this_run": steps_run, "resumed_from_step": start,
        "test_accuracy": test_accuracy, "test_examples": int(len(data.test)),
        "validation_accuracy": validation_accuracy,
        "train_seconds": result.train_seconds, "wall_seconds": wall,
        "images_per_second": steps_run * examples_per_step / result.train_seconds if result.train_seconds else None,
        "stopped_early": result.stopped_early, "best_step": result.best_step,
        "weights_step": result.weights_step,  # the step whose weights were evaluated and kept
        "hyperparameters": {k: getattr(hp, k) for k in hp.__dataclass_fields__},
        "seed": seed, "device": resolve_device(device), "tensorflow": tf.VERSION,
    }
    if cluster is not None:
        metrics["cluster"] = cluster.describe()
    if figures:
        drawn.update(loss=plots.loss_curve(result.history), accuracy=plots.accuracy_curves(result.history))
        if early_stopping:
            drawn["validation_improvements"] = plots.improvement_marks(result.history)
    return ChapterRun(metrics, drawn, result.history, paths={"checkpoints": checkpoint_dir},
                      outputs={"test_probabilities": probabilities})  # [N_test, classes], this session's


@contextlib.contextmanager
def _local_session(graph, device, checkpoints, resume):
    """A single process's ``(session, start_step)``, as :meth:`cluster.Worker.session` gives a worker's."""
    with new_session(graph, device) as session:
        yield session, checkpoints.start(session, resume)


def _worker_metrics(cluster, result):
    return {"recipe": "mnist_cnn", "task": cluster.task, "steps": result.final_step,
            "updates_by_this_worker": len(result.history.train["step"]), "cluster": cluster.describe()}


def mnist_figures(session, net, hp, data, last_batch, test_probabilities):
    """The chapter's pictures: book sample grid, confusion matrix, weights, conv outputs."""
    test_predictions = np.argmax(test_probabilities, axis=1)
    figures = {}
    if last_batch:
        batch_predictions = session.run(net.predictions, {net.images: last_batch["images"][:6]})
        figures["predictions"] = plots.prediction_grid(last_batch["images"], last_batch["labels"],
                                                       batch_predictions, data.class_names)
    figures["confusion_matrix"] = plots.confusion_matrix(data.test.labels, test_predictions, data.class_names)
    errors = plots.example_errors(data.test.images, data.test.labels, test_predictions, data.class_names)
    if errors is not None:  # Hvass #02's example errors
        figures["example_errors"] = errors
    variables = {v.op.name: v for v in tf.global_variables()}
    if hp.network == "linear":
        weights = session.run(variables["linear/fc/weights"])
        figures["weights"] = plots.linear_weights(weights, data.image_shape[:2], list(data.class_names))
    else:
        scope = {"cookbook": "cookbook_cnn", "hvass-cnn": "hvass_cnn", "hvass-chain": "hvass_chain"}[hp.network]
        figures["conv1_weights"] = plots.conv_weights(session.run(variables[f"{scope}/conv1/weights"]))
        figures["conv2_weights"] = plots.conv_weights(session.run(variables[f"{scope}/conv2/weights"]), 0,
                                                      "Second conv layer weights (input channel 0)")
        first = data.test.images[:1]
        conv1, conv2 = session.run([net.endpoints["conv1"], net.endpoints["conv2"]], {net.images: first})
        figures["conv1_outputs"] = plots.conv_outputs(conv1[0], "Conv layer 1 outputs (first test image)")
        figures["conv2_outputs"] = plots.conv_outputs(conv2[0], "Conv layer 2 outputs (first test image)")
    return figures


if __name__ == "__main__":  # `python -m cnn_cookbook.mnist_cnn` runs the recipe of that name
    from cnn_cookbook.__main__ import run_as_module

    run_as_module("mnist_cnn")
