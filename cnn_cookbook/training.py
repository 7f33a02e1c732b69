"""The graph-mode training loop every chapter shares, and the classifier graph around a network.

Vocabulary: the book's "generation" is a *step* here: one optimiser update on one batch.

- :func:`build_classifier` puts placeholders, loss, accuracy and an optimiser around a network.
- :class:`Checkpoints` saves with ``tf.train.Saver``, restores for ``--resume`` (refusing a
  checkpoint of another network with a clear message) and keeps earlier runs' files.
- :func:`fit` runs the steps: one ``Session.run`` per step, periodic evaluation, checkpoints,
  TensorBoard summaries (train/ and eval/ runs, :mod:`cnn_cookbook.summaries`), early stopping,
  progress (:mod:`cnn_cookbook.progress`), and a stop on a NaN/Inf loss.  It returns a
  :class:`History` for plots and notebooks.

The caller owns the Graph and the Session; nothing here creates either.
"""

import json
import math
import shutil
import time
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cnn_cookbook.progress import tqdm

from cnn_cookbook import progress as progress_lines
from cnn_cookbook import summaries
from cnn_cookbook.errors import CookbookError, TrainingDiverged
from cnn_cookbook.fileio import ensure_dir, write_json
from cnn_cookbook.tf1 import tf

ClassifierGraph = namedtuple("ClassifierGraph", [
    "images",         # placeholder [None, H, W, C] float32, values 0..1
    "labels",         # placeholder [None] int32 class ids
    "training",       # bool placeholder, default False (dropout / batch norm switch)
    "logits",         # [None, num_classes]
    "probabilities",  # softmax of logits
    "predictions",    # argmax, int32
    "loss",           # mean sparse softmax cross-entropy (plus any regularisation losses)
    "accuracy",       # fraction correct in the batch, 0..1
    "train_op",       # one optimiser step; increments global_step
    "global_step",
    "learning_rate",  # tensor (may decay with global_step)
    "endpoints",      # dict of named layer tensors from the network builder
])


def classification_heads(logits, labels):
    """Loss, probabilities, predictions and accuracy for integer ``labels``."""
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
                          name="cross_entropy")
    regularisation = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    if regularisation:
        loss = tf.add(loss, tf.add_n(regularisation), name="total_loss")
    probabilities = tf.nn.softmax(logits, name="probabilities")
    predictions = tf.argmax(logits, axis=1, output_type=tf.int32, name="predictions")
    accuracy = tf.reduce_mean(tf.cast(tf.equal(predictions, labels), tf.float32), name="accuracy")
    return loss, probabilities, predictions, accuracy


def build_classifier(network, image_shape, num_classes, optimizer, learning_rate):
    """Placeholders -> ``network`` -> loss and a training op, in the current default graph.

    ``network(images, num_classes, training)`` returns ``(logits, endpoints)``;
    ``optimizer(learning_rate)`` returns a ``tf.train.Optimizer``; ``learning_rate`` is a float
    or ``callable(global_step) -> tensor`` for schedules.
    """
    images = tf.placeholder(tf.float32, [None, *image_shape], name="images")
    labels = tf.placeholder(tf.int32, [None], name="labels")
    training = tf.placeholder_with_default(False, [], name="training")
    global_step = tf.train.get_or_create_global_step()
    existing = set(tf.trainable_variables())
    logits, endpoints = network(images, num_classes, training)
    _refuse_silent_reuse(existing)
    loss, probabilities, predictions, accuracy = classification_heads(logits, labels)
    rate = learning_rate(global_step) if callable(learning_rate) else tf.constant(learning_rate, name="learning_rate")
    # batch norm moving averages (if the network has any) update with each training step
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = optimizer(rate).minimize(loss, global_step=global_step)
    return ClassifierGraph(images, labels, training, logits, probabilities, predictions, loss,
                           accuracy, train_op, global_step, rate, endpoints)


def _refuse_silent_reuse(existing):
    """Stop a second classifier on the weights of a first one in the same graph.

    Builders share variables through AUTO_REUSE (train and evaluation towers), so a notebook
    cell run twice in the default graph would silently train the first build's weights and then
    fail on its optimiser slots ("Variable .../Momentum/ already exists").  One clear error
    instead, naming the way out.
    """
    if existing and not set(tf.trainable_variables()) - existing:
        first = sorted(v.op.name for v in existing)[0]
        raise CookbookError(
            f"this graph already holds the network's variables ({first}, ...): a classifier "
            "was built in it before (e.g. a notebook cell run twice); call tf.reset_default_graph() "
            "first, or build inside 'with tf.Graph().as_default():'")


def predict_in_batches(session, fetch, images_ph, images, batch_size=1000, feed=None):
    """Run ``fetch`` over ``images`` in batches and concatenate: the whole set, each image once."""
    outputs = []
    for start in range(0, len(images), batch_size):
        feed_dict = {images_ph: images[start:start + batch_size], **(feed or {})}
        outputs.append(session.run(fetch, feed_dict))
    return np.concatenate(outputs) if outputs else np.zeros((0,))


def evaluate_classifier(session, graph, images, labels, batch_size=1000):
    """Accuracy (0..1) and probabilities of a :class:`ClassifierGraph` on a whole data set."""
    probabilities = predict_in_batches(session, graph.probabilities, graph.images, images, batch_size)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels)) if len(labels) else float("nan")
    return accuracy, probabilities


# ---------------------------------------------------------------------------------------------
# Checkpoints

NETWORK_INFO = "network.json"


class Checkpoints:
    """Saver plus the folder it writes to; restore for --resume, keep what earlier runs wrote."""

    def __init__(self, directory, var_list=None, max_to_keep=5):
        self.directory = Path(directory)
        self.var_list = list(var_list) if var_list is not None else tf.global_variables()
        self.saver = tf.train.Saver(self.var_list, max_to_keep=max_to_keep)
        self.prefix = str(self.directory / "model.ckpt")

    def latest(self):
        return tf.train.latest_checkpoint(str(self.directory)) if self.directory.is_dir() else None

    def check_compatible(self, path):
        """Refuse a checkpoint whose variables differ from this graph's, naming the difference."""
        stored = dict(tf.train.list_variables(path))
        wanted = {v.op.name: v.get_shape().as_list() for v in self.var_list}
        missing = sorted(set(wanted) - set(stored))
        wrong = sorted(n for n in set(wanted) & set(stored) if list(stored[n]) != wanted[n])
        if missing or wrong:
            detail = (f"missing {missing[:3]}" if missing else
                      f"{wrong[0]} has shape {stored[wrong[0]]}, this network needs {wanted[wrong[0]]}")
            raise CookbookError(
                f"checkpoint {path} was written by a different network ({detail}); resume with the "
                "same --model and hyperparameters, or use a new --output-dir")

    def restore(self, session, path=None):
        path = path or self.latest()
        if path is None:
            raise CookbookError(f"no checkpoint in {self.directory}; train first or check --output-dir")
        self.check_compatible(path)
        self.saver.restore(session, path)
        return path

    def start(self, session, resume):
        """Initialise variables, or restore the latest checkpoint when ``resume``; returns the step.

        Starting afresh in a folder that already holds checkpoints moves them to
        ``<folder>.previous-<time>`` first, so an earlier run is never overwritten.
        """
        session.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
        latest = self.latest()
        if resume and latest:
            self.restore(session, latest)
            return int(session.run(tf.train.get_global_step()))
        if resume:
            tqdm.write(f"no checkpoint in {self.directory} to resume from; starting at step 0")
        elif latest:
            kept = self.directory.with_name(f"{self.directory.name}.previous-{time.strftime('%Y%m%d-%H%M%S')}")
            shutil.move(str(self.directory), str(kept))
            tqdm.write(f"earlier checkpoints moved to {kept} (use --resume to continue a run)")
        return 0

    def save(self, session, step):
        ensure_dir(self.directory)
        return self.saver.save(session, self.prefix, global_step=step)


def write_network_info(directory, **info):
    """Record which network a checkpoint folder holds, so other recipes can rebuild it."""
    write_json(Path(directory) / NETWORK_INFO, info)


def read_network_info(directory):
    path = Path(directory) / NETWORK_INFO
    if not path.is_file():
        raise CookbookError(f"{directory} holds no {NETWORK_INFO}; point at the checkpoints folder a "
                            "cnn_cookbook recipe wrote (e.g. runs/mnist_cnn/checkpoints)")
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------
# The loop


@dataclass
class History:
    """What a run measured: per-step training values and periodic evaluations.

    ``train`` and ``evals`` map a name to a list; ``train["step"]`` / ``evals["step"]`` hold the
    step each row belongs to.  Accuracies are fractions 0..1.
    """

    train: dict = field(default_factory=lambda: {"step": [], "loss": [], "accuracy": []})
    evals: dict = field(default_factory=lambda: {"step": []})

    def log_train(self, step, loss, accuracy=None):
        self.train["step"].append(step)
        self.train["loss"].append(float(loss))
        self.train["accuracy"].append(None if accuracy is None else float(accuracy))

    def log_eval(self, step, values):
        self.evals["step"].append(step)
        for name, value in values.items():
            self.evals.setdefault(name, [None] * (len(self.evals["step"]) - 1)).append(float(value))
        for name, column in self.evals.items():  # keep columns aligned when a metric is absent
            if len(column) < len(self.evals["step"]):
                column.append(None)

    def to_dict(self):
        return {"train": self.train, "evals": self.evals}


@dataclass
class EarlyStopping:
    """Stop when ``metric`` (higher is better) has not improved for ``patience`` steps.

    The best model is saved to ``best_checkpoints`` each time it improves (Hvass #04), and
    restored by :func:`fit` when training ends.
    """

    metric: str = "validation_accuracy"
    patience: int = 1000
    best_checkpoints: Checkpoints = None
    best_value: float = -math.inf
    best_step: int = -1

    def update(self, session, step, values):
        """Record an evaluation; returns True when training should stop."""
        value = values.get(self.metric)
        if value is None:
            raise CookbookError(f"early stopping watches {self.metric!r}, which the evaluation does not report")
        if value > self.best_value:
            self.best_value, self.best_step = float(value), step
            if self.best_checkpoints is not None:
                self.best_checkpoints.save(session, step)
        return step - self.best_step >= self.patience


@dataclass
class FitResult:
    history: History
    start_step: int
    final_step: int
    train_seconds: float       # time in training steps only (evaluation and saving excluded)
    stopped_early: bool = False
    best_step: int = None      # with early stopping: the step whose weights were restored

    @property
    def steps_run(self):
        return self.final_step - self.start_step


def _diverged(step, loss, checkpoints):
    latest = checkpoints.latest() if checkpoints else None
    kept = f"the last good checkpoint is {latest}" if latest else "no checkpoint had been written yet"
    return TrainingDiverged(f"loss became {loss} at step {step}; training stopped and {kept}; "
                            "lower the learning rate or check the input data")


def fit(session, graph, steps, *, start_step=0, feed=None, evaluate=None, eval_every=None,
        checkpoints=None, checkpoint_every=None, summary_writer=None, summary_every=10,
        early_stopping=None, progress=True, history=None, describe=None):
    """Train from ``start_step`` up to ``steps`` (total, so a resumed run finishes the same count).

    ``graph`` is anything with ``train_op``, ``loss`` and ``accuracy`` tensors (a
    :class:`ClassifierGraph`, or a namedtuple of a queue-fed model).  ``feed()`` returns the
    feed dict of one step (omit it for queue or tf.data inputs).  ``evaluate(session)`` returns a
    dict of metrics; it runs every ``eval_every`` steps and on the last step.
    ``describe(step, train_values, eval_values)`` may return the line printed at each evaluation.
    ``summary_writer``: a :class:`cnn_cookbook.summaries.RunWriters`; training scalars (and the
    graph's other summaries) go to its ``train/`` run every ``summary_every`` steps, histograms
    every ``summary_writer.histogram_every`` steps, evaluations to ``eval/`` / ``validation/``.
    """
    history = history or History()
    fetches = {"train": graph.train_op, "loss": graph.loss}
    if getattr(graph, "accuracy", None) is not None:
        fetches["accuracy"] = graph.accuracy
    summary_op = histogram_op = None
    if summary_writer is not None:
        summary_op, histogram_op = summaries.training_summary_ops()
        histogram_every = summary_writer.histogram_every
    train_seconds, step, stopped = 0.0, start_step, False
    bar = progress_lines.bar(total=steps, initial=start_step, enabled=progress, unit="step", desc="train")
    try:
        while step < steps:
            run_fetches = dict(fetches)
            summarise = summary_writer is not None and ((step + 1) % summary_every == 0 or step + 1 == steps)
            if summarise and summary_op is not None:
                run_fetches["summary"] = summary_op
            if histogram_op is not None and histogram_every and (step + 1) % histogram_every == 0:
                run_fetches["histograms"] = histogram_op
            feed_dict = feed() if feed else None
            began = time.perf_counter()
            values = session.run(run_fetches, feed_dict)
            train_seconds += time.perf_counter() - began
            step += 1
            loss = float(values["loss"])
            if not math.isfinite(loss):
                raise _diverged(step, loss, checkpoints)
            history.log_train(step, loss, values.get("accuracy"))
            if summary_writer is not None:
                summary_writer.train_step(step, values, summarise)
            bar.update(1)
            if step % 10 == 0 or step == steps:
                bar.set_postfix(loss=f"{loss:.3f}", **({"acc": f"{values['accuracy']:.3f}"} if "accuracy" in values else {}))
            last = step == steps
            if evaluate is not None and eval_every and (step % eval_every == 0 or last):
                results = evaluate(session)
                history.log_eval(step, results)
                if summary_writer is not None:
                    summary_writer.evaluation(step, results)
                if describe is not None:
                    line = describe(step, values, results)
                    if line:
                        bar.write(line)
                if early_stopping is not None and early_stopping.update(session, step, results):
                    bar.write(f"early stop at step {step}: no {early_stopping.metric} improvement since "
                              f"step {early_stopping.best_step} ({early_stopping.best_value:.4f})")
                    stopped = True
            if checkpoints is not None and (stopped or last or
                                            (checkpoint_every and step % checkpoint_every == 0)):
                checkpoints.save(session, step)
            if stopped:
                break
    finally:
        bar.close()
        if summary_writer is not None:
            summary_writer.flush()
    best_step = None
    if early_stopping is not None and early_stopping.best_checkpoints is not None \
            and early_stopping.best_checkpoints.latest():
        early_stopping.best_checkpoints.restore(session)
        best_step = early_stopping.best_step
    return FitResult(history, start_step, step, train_seconds, stopped, best_step)
