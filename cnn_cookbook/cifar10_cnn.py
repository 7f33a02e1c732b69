"""The CIFAR-10 chapter as a library call: the cookbook CNN, Hvass #06 and the Keras notebook's network.

:func:`train_cifar10` builds the input pipeline (queue runners or tf.data), the towers (one per
device), the evaluation stream over the whole test set, trains with the shared loop and returns
a :class:`cnn_cookbook.results.ChapterRun` (metrics, history, figures, the checkpoint folder, the
test set's probabilities).  The caller (recipe or notebook) writes them.

Bugs of the tutorials fixed here:

- the cookbook's learning rate never decayed (its step counter was never given to the
  optimiser); here the schedule reads the global step that each update increments, and decays
  x0.9 every 250 steps as the book's formula says (the cookbook's code had x0.1);
- test images were distorted like training images and "test accuracy" was one random batch of
  128; here the test path is undistorted and every evaluation covers the whole test set once;
- queue threads were never stopped; here they run under a Coordinator and are joined.
"""

import contextlib
import math
import time
from collections import namedtuple
from dataclasses import asdict, dataclass, replace

import numpy as np

from cnn_cookbook import cluster as clusters
from cnn_cookbook import plots, run_folder, summaries, training
from cnn_cookbook.datasets import cifar10_pipeline as pipelines
from cnn_cookbook.datasets.cifar10 import CLASS_NAMES, count_records
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.fileio import ensure_dir
from cnn_cookbook.multi_device import build_towers, variables_on_cpu
from cnn_cookbook.nets import cifar10 as nets
from cnn_cookbook.results import ChapterRun
from cnn_cookbook.tf1 import new_session, resolve_device, seed_everything, tf, visible_gpus


@dataclass(frozen=True)
class Cifar10Hyperparameters:
    """A model's defaults as its tutorial has them.  A "step" is the book's generation."""

    network: str               # name in cnn_cookbook.nets.NETWORKS (the 0..1-input builder)
    style: str                 # preprocessing, see cnn_cookbook.datasets.cifar10_pipeline
    optimizer: str             # sgd | adam | adamax
    learning_rate: float
    batch_size: int
    steps: int = None          # None: epochs x steps per epoch
    epochs: int = None
    lr_decay: float = 1.0      # multiply the rate by this ...
    lr_decay_steps: int = None  # ... every this many steps (None: every epoch)
    eval_every: int = None     # steps between whole-test-set evaluations (None: every epoch)
    checkpoint_every: int = None  # None: every epoch
    shuffle_buffer: int = 5000  # min_after_dequeue / tf.data shuffle buffer
    reader_threads: int = 1


MODELS = {
    # cookbook ch. 8: SGD 0.1 x0.9 every 250 steps (staircase), batch 128, 20000 steps, test every 500
    "cookbook": Cifar10Hyperparameters("cifar10-cookbook", "cookbook", "sgd", 0.1, 128, steps=20000,
                                lr_decay=0.9, lr_decay_steps=250, eval_every=500, checkpoint_every=500),
    # Hvass #06: Adam 1e-4, batch 64, 150000 iterations
    "hvass": Cifar10Hyperparameters("cifar10-hvass", "hvass", "adam", 1e-4, 64, steps=150000,
                             eval_every=1000, checkpoint_every=1000),
    # the Keras notebook: Adamax 5e-3, x0.9 per epoch, batch 32, 10 epochs, test and checkpoint each epoch
    "keras-style": Cifar10Hyperparameters("cifar10-keras-style", "keras-style", "adamax", 5e-3, 32, epochs=10,
                                   lr_decay=0.9),
}


def learning_rate(hp, global_step, steps_per_epoch):
    """The tutorials' schedule: ``rate * decay^floor(step / decay_steps)`` (constant if decay is 1)."""
    if hp.lr_decay == 1.0:
        return tf.constant(hp.learning_rate, name="learning_rate")
    return tf.train.exponential_decay(hp.learning_rate, global_step, hp.lr_decay_steps or steps_per_epoch,
                                      hp.lr_decay, staircase=True, name="learning_rate")


def resolve(model, train_examples, **overrides):
    """The model's :class:`Cifar10Hyperparameters` with ``overrides`` (None = keep) and per-epoch values
    filled in; returns ``(hyperparameters, steps_per_epoch)``."""
    if model not in MODELS:
        raise CookbookError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}", field="model")
    hp = replace(MODELS[model], **training.given(overrides))
    steps_per_epoch = max(1, math.ceil(train_examples / hp.batch_size))
    if overrides.get("steps") is None and (overrides.get("epochs") is not None or hp.steps is None):
        hp = replace(hp, steps=(hp.epochs or 1) * steps_per_epoch)
    hp = replace(hp, lr_decay_steps=hp.lr_decay_steps or (steps_per_epoch if hp.lr_decay != 1.0 else None),
                 eval_every=hp.eval_every or steps_per_epoch,
                 checkpoint_every=hp.checkpoint_every or steps_per_epoch)
    return hp, steps_per_epoch


# ---------------------------------------------------------------------------------------------
# The model: input pipeline, towers and the evaluation network


@dataclass
class Cifar10Model:
    train: object        # multi_device.Towers (train_op, loss, accuracy, ...)
    stream: object       # cifar10_pipeline.EvalStream over the test set
    probabilities: object  # softmax of the evaluation network on stream.images
    input_batch: object  # cifar10_pipeline.InputBatch feeding the towers


def tower_device_type(device, num_devices):
    resolved = resolve_device(device)
    if resolved == "gpu" and num_devices > len(visible_gpus()):
        raise CookbookError(f"{num_devices} devices are more GPUs than the {len(visible_gpus())} TensorFlow "
                            "sees; use fewer devices or the CPU", field=("num_devices", "device"))
    return resolved


def build_cifar10_model(hp, batches_dir, pipeline="queue", num_devices=1, device="auto", seed=None,
                        steps_per_epoch=1, eval_batch_size=1000, shard=None, wrap_optimizer=None):
    """Input pipeline -> towers -> averaged update, plus the evaluation network, in the default graph.

    ``shard`` ``(index, count)`` trains on every count-th training record only (a cluster
    worker's share); ``wrap_optimizer(optimizer)`` may replace the optimizer (sync replicas)."""
    device_type = tower_device_type(device, num_devices)
    core = {"cookbook": nets.cookbook_cifar, "hvass": nets.hvass_cifar,
            "keras-style": nets.keras_style_cifar}[hp.style]
    with tf.device("/cpu:0"):  # input work stays on the host, as in tensorflow/models' cifar10
        batch = pipelines.train_batch(pipeline, batches_dir, hp.batch_size, hp.style, seed,
                                      hp.shuffle_buffer, hp.reader_threads, shard)
        stream = pipelines.eval_stream(pipeline, batches_dir, "test", eval_batch_size, hp.style)
    global_step = tf.train.get_or_create_global_step()
    rate = learning_rate(hp, global_step, steps_per_epoch)
    optimizer = training.make_optimizer(hp.optimizer, rate)
    towers = build_towers(lambda images: core(images, len(CLASS_NAMES), True)[0], batch.images, batch.labels,
                          wrap_optimizer(optimizer) if wrap_optimizer else optimizer, num_devices, device_type,
                          global_step, rate)
    with tf.device(variables_on_cpu(f"/{device_type}:0")), tf.name_scope("evaluation"):
        probabilities = tf.nn.softmax(core(stream.images, len(CLASS_NAMES), False)[0])
    return Cifar10Model(towers, stream, probabilities, batch)


def evaluate_test_set(session, model):
    """Probabilities, labels and pixels of every test image, each exactly once."""
    return pipelines.evaluate_stream(session, model.stream, {"probabilities": model.probabilities})


def per_class_accuracy(labels, predictions, num_classes=len(CLASS_NAMES)):
    """Fraction correct (0..1) for each true class; NaN for a class with no test image."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return np.array([np.mean(predictions[labels == k] == k) if np.any(labels == k) else np.nan
                     for k in range(num_classes)])


# ---------------------------------------------------------------------------------------------
# Training


@run_folder.claiming
def train_cifar10(batches_dir, model="cookbook", output_dir="runs/cifar10_cnn", pipeline="queue",
                  num_devices=1, seed=0, device="auto", resume=False, progress=True, dataset="cifar10",
                  summaries_dir=None, histogram_every=0, cluster=None, **overrides):
    """Train ``model`` on the binary batches in ``batches_dir``; returns a :class:`ChapterRun`.

    ``overrides`` replace :class:`Cifar10Hyperparameters` fields (steps, epochs, batch_size,
    learning_rate, lr_decay, lr_decay_steps, eval_every, checkpoint_every, shuffle_buffer,
    reader_threads).  Checkpoints (with ``network.json``) and TensorBoard events (train/ and
    eval/ under ``summaries_dir``, default ``output_dir/tensorboard``; histograms every
    ``histogram_every`` steps) are written under ``output_dir``; metrics and figures are returned
    (with ``paths["checkpoints"]`` and ``outputs["test_probabilities"]``, [N_test, 10] in test-file order).

    ``cluster`` (a worker's :class:`cnn_cookbook.cluster.ClusterConfig`) trains this process's
    shard of the training records as one worker of a cluster (with ``num_devices`` towers of its
    own); only the chief evaluates and writes.
    """
    train_examples = count_records(batches_dir, "train")
    hp, steps_per_epoch = resolve(model, train_examples, **overrides)
    training.check_batch_size(hp.batch_size, train_examples, f"the training set in {batches_dir}")
    if hp.batch_size % num_devices:
        raise CookbookError(f"the batch size {hp.batch_size} cannot be split evenly over {num_devices} "
                            "devices; choose a batch size divisible by the number of devices",
                            field=("batch_size", "num_devices"))
    output_dir = ensure_dir(output_dir, field="output_dir")
    checkpoint_dir = output_dir / "checkpoints"
    resolved_device = tower_device_type(device, num_devices)
    cpu_devices = num_devices if resolved_device == "cpu" else 1
    worker = clusters.Worker(cluster, cpu_devices) if cluster is not None else None
    chief = worker is None or worker.is_chief
    shard = (cluster.task_index, cluster.num_workers) if cluster is not None else None
    if cluster is not None:
        seed = seed + cluster.task_index  # each worker its own shuffling and distortions
    graph = tf.Graph()
    with graph.as_default():
        seed_everything(seed)
        with tf.device(worker.device_setter()) if worker else contextlib.nullcontext():
            net = build_cifar10_model(hp, batches_dir, pipeline, num_devices, device, seed, steps_per_epoch,
                                      shard=shard, wrap_optimizer=worker.optimizer if worker else None)
            step_after = worker.step_after(net.train.train_op, net.train.global_step) if worker else None
            checkpoints = training.Checkpoints(checkpoint_dir)
        summaries.add_scalar("learning_rate", net.train.learning_rate)
        if not resume and chief:  # the first write of a fresh run: an earlier run moves aside whole
            run_folder.keep_earlier_run(output_dir, summaries_dir=summaries_dir)
        summaries.add_input_images(net.input_batch.images)
        if histogram_every:
            summaries.add_histograms(summaries.relu_activations(graph, exclude_scope="evaluation"))
        writer = summaries.RunWriters(summaries.events_folder(output_dir, summaries_dir), graph,
                                      histogram_every) if chief else None
        # Hvass #06's figure, run in this session once training is over (the chief draws it)
        examples = build_distortion_examples(hp.style) if chief and hp.style != "keras-style" else None
        last_eval = {}

        def evaluate(session):
            result = evaluate_test_set(session, net)
            last_eval.update(result, step=int(session.run(net.train.global_step)))
            predictions = np.argmax(result["probabilities"], axis=1)
            return {"test_accuracy": float(np.mean(predictions == result["labels"]))}

        def describe(step, values, results):
            return (f"step {step}: loss {values['loss']:.4f} train acc {100 * values['accuracy']:.1f}% "
                    f"test acc {100 * results['test_accuracy']:.2f}% (all {net.stream.num_examples})")

        opened = (worker.session(checkpoints, resume, cpu_devices) if worker
                  else _local_session(graph, device, cpu_devices, checkpoints, resume))
        with opened as (session, start):
            if not chief:  # a worker only trains; the chief evaluates, checkpoints and reports
                with pipelines.queue_runners(session):
                    result = training.fit(session, net.train, hp.steps, start_step=start, progress=progress,
                                          global_step=step_after)
                return ChapterRun({"recipe": "cifar10_cnn", "task": cluster.task, "steps": result.final_step,
                                   "updates_by_this_worker": len(result.history.train["step"]),
                                   "cluster": cluster.describe()},
                                  history=result.history, paths={"checkpoints": checkpoint_dir})
            training.write_network_info(
                checkpoint_dir, network=hp.network, image_shape=[pipelines.OUTPUT_SIZE[hp.style]] * 2 + [3],
                num_classes=len(CLASS_NAMES), class_names=list(CLASS_NAMES), dataset=dataset,
                input="RGB 0..1, centrally cropped to image_shape")
            with pipelines.queue_runners(session):
                began = time.time()
                result = training.fit(session, net.train, hp.steps, start_step=start, evaluate=evaluate,
                                      eval_every=hp.eval_every, checkpoints=checkpoints,
                                      checkpoint_every=hp.checkpoint_every, summary_writer=writer,
                                      progress=progress, describe=describe, global_step=step_after)
                wall = time.time() - began
                if last_eval.get("step") != result.final_step:  # e.g. resumed at the end already
                    evaluate(session)
                final_rate = float(session.run(net.train.learning_rate))
            distorted = distorted_examples(session, examples, last_eval["pixels"][0]) if examples else None
        writer.close()
    predictions = np.argmax(last_eval["probabilities"], axis=1)
    labels = last_eval["labels"]
    per_class = per_class_accuracy(labels, predictions)
    steps_run = result.steps_run
    # in sync mode one step averages one batch from each of the replicas
    examples_per_step = hp.batch_size * (cluster.replicas if cluster is not None and cluster.sync else 1)
    metrics = {
        "recipe": "cifar10_cnn", "model": model, "dataset": dataset, "pipeline": pipeline,
        "num_devices": num_devices, "device": resolved_device,
        "steps": result.final_step, "steps_this_run": steps_run, "resumed_from_step": start,
        "steps_per_epoch": steps_per_epoch, "epochs": result.final_step / steps_per_epoch,
        "test_accuracy": float(np.mean(predictions == labels)), "test_examples": int(len(labels)),
        "per_class_accuracy": {name: (None if np.isnan(a) else float(a)) for name, a in zip(CLASS_NAMES, per_class)},
        "final_learning_rate": final_rate, "train_seconds": result.train_seconds, "wall_seconds": wall,
        "images_per_second": steps_run * examples_per_step / result.train_seconds if result.train_seconds else None,
        "hyperparameters": asdict(hp), "seed": seed, "tensorflow": tf.VERSION,
    }
    if cluster is not None:
        metrics["cluster"] = cluster.describe()
    figures = {"loss": plots.loss_curve(result.history), "accuracy": plots.accuracy_curves(result.history),
               **cifar10_figures(last_eval["pixels"], labels, last_eval["probabilities"], seed)}
    if distorted is not None:  # the Keras notebook trains without distortions: no such figure
        figures["distorted_images"] = plots.distorted_grid(
            distorted, title=f"Distorted training images ({hp.style} pipeline; the first is the test-time crop)")
    return ChapterRun(metrics, figures, result.history, paths={"checkpoints": checkpoint_dir},
                      outputs={"test_probabilities": last_eval["probabilities"]})  # [N_test, 10], file order


@contextlib.contextmanager
def _local_session(graph, device, cpu_devices, checkpoints, resume):
    """A single process's ``(session, start_step)``, as :meth:`cluster.Worker.session` gives a worker's."""
    with new_session(graph, device, cpu_devices) as session:
        yield session, checkpoints.start(session, resume)


def cifar10_figures(pixels, labels, probabilities, seed=0, count=16):
    """Confusion matrix with class names, the Keras notebook's grid of test predictions with their scores,
    and misclassified test images.  ``pixels`` [N, 32, 32, 3] uint8."""
    predictions = np.argmax(probabilities, axis=1)
    scores = probabilities[np.arange(len(predictions)), predictions]
    rng = np.random.default_rng(seed)
    shown = rng.choice(len(labels), size=min(count, len(labels)), replace=False)

    def titles(index):
        return [f"pred: {CLASS_NAMES[predictions[i]]}\nscore: {scores[i]:.3f}\ntrue: {CLASS_NAMES[labels[i]]}"
                for i in index]

    wrong = np.flatnonzero(predictions != labels)[:count]
    figures = {"confusion_matrix": plots.confusion_matrix(labels, predictions, list(CLASS_NAMES)),
               "test_predictions": plots.image_grid(pixels[shown] / 255.0, titles(shown), cols=8,
                                                    title="Test predictions")}
    if len(wrong):
        figures["misclassified"] = plots.image_grid(pixels[wrong] / 255.0, titles(wrong), cols=8,
                                                    title=f"Misclassified test images ({np.sum(predictions != labels)} "
                                                          f"of {len(labels)})")
    return figures


DistortionExamples = namedtuple("DistortionExamples", [
    "pixels",      # placeholder: one uint8 image [32, 32, 3]
    "test_view",   # its test-time preprocessing [S, S, 3]
    "train_view",  # one random training distortion of it (each run draws anew)
    "style",
])


def build_distortion_examples(style):
    """The graph piece of Hvass #06's figure of distorted training images (in the default graph)."""
    pixels = tf.placeholder(tf.uint8, [32, 32, 3], name="example_pixels")
    return DistortionExamples(pixels, pipelines.preprocess(pixels, False, style),
                              pipelines.preprocess(pixels, True, style), style)


def distorted_examples(session, examples, image, count=8):
    """Hvass #06's figure data: uint8 ``image`` [32, 32, 3] through the test-time path, then
    ``count`` times through the training distortions of ``examples``
    (:func:`build_distortion_examples`), in a Session the caller opened.

    Returns [count + 1, S, S, 3] floats 0..1 for display (standardised styles are rescaled per
    image to their own minimum and maximum).
    """
    feed = {examples.pixels: image}
    views = [session.run(examples.test_view, feed)] + [session.run(examples.train_view, feed) for _ in range(count)]
    images = np.stack(views).astype(np.float64)
    if examples.style != "hvass":  # hvass stays in 0..1; the others are standardised or centred
        low = images.min(axis=(1, 2, 3), keepdims=True)
        high = images.max(axis=(1, 2, 3), keepdims=True)
        images = (images - low) / np.maximum(high - low, 1e-8)
    return images


if __name__ == "__main__":  # `python -m cnn_cookbook.cifar10_cnn` runs the recipe of that name
    from cnn_cookbook.__main__ import run_as_module

    run_as_module("cifar10_cnn")
