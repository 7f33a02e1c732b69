"""The graph-mode training loop every chapter shares, and the classifier around a network.

Vocabulary: the book's "generation" is a *step* here: one optimiser update on one batch.

- :func:`build_classifier` puts placeholders, loss, accuracy and an optimiser around a network.
- :class:`Checkpoints` saves with ``tf.train.Saver``, restores for a resumed run (refusing a
  checkpoint of another network with a clear message) and keeps earlier runs' files.
- :func:`fit` runs the steps: one ``Session.run`` per step, periodic evaluation, checkpoints,
  TensorBoard summaries (train/ and eval/ runs, :mod:`cnn_cookbook.summaries`), early stopping,
  progress (:mod:`cnn_cookbook.progress`), and a stop on a NaN/Inf loss.  It returns a
  :class:`History` for plots and notebooks.

The caller owns the Graph and the Session; nothing here creates either.
"""

import json
import math
import re
import shutil
import signal
import threading
import time
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cnn_cookbook.progress import tqdm

from cnn_cookbook import progress as progress_lines
from cnn_cookbook import summaries
from cnn_cookbook.errors import CookbookError, Interrupted, TrainingDiverged, first_line
from cnn_cookbook.fileio import ensure_dir, write_json
from cnn_cookbook.tf1 import tf

Classifier = namedtuple("Classifier", [
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
    return Classifier(images, labels, training, logits, probabilities, predictions, loss,
                      accuracy, train_op, global_step, rate, endpoints)


# ---------------------------------------------------------------------------------------------
# Optimisers and settings


class AdamaxOptimizer(tf.train.Optimizer):
    """Adamax (Kingma & Ba 2015, sec. 7.1) as Keras has it; compat.v1 ships no Adamax.

    m <- b1 m + (1 - b1) g;  u <- max(b2 u, |g|);  w <- w - lr / (1 - b1^t) * m / (u + eps)
    """

    def __init__(self, learning_rate=0.002, beta1=0.9, beta2=0.999, epsilon=1e-7, name="Adamax"):
        super().__init__(use_locking=False, name=name)
        self._lr, self._beta1, self._beta2, self._epsilon = learning_rate, beta1, beta2, epsilon

    def _create_slots(self, var_list):
        first = min(var_list, key=lambda v: v.name)
        self._create_non_slot_variable(initial_value=self._beta1, name="beta1_power", colocate_with=first)
        for var in var_list:
            self._zeros_slot(var, "m", self._name)
            self._zeros_slot(var, "u", self._name)

    def _apply_dense(self, grad, var):
        m, u = self.get_slot(var, "m"), self.get_slot(var, "u")
        dtype = var.dtype.base_dtype
        beta1, beta2 = tf.cast(self._beta1, dtype), tf.cast(self._beta2, dtype)
        beta1_power = tf.cast(self._get_non_slot_variable("beta1_power", graph=var.graph), dtype)
        m_t = tf.assign(m, beta1 * m + (1 - beta1) * grad)
        u_t = tf.assign(u, tf.maximum(beta2 * u, tf.abs(grad)))
        step = tf.cast(self._lr, dtype) / (1 - beta1_power) * m_t / (u_t + self._epsilon)
        return tf.group(tf.assign_sub(var, step), m_t, u_t)

    _resource_apply_dense = _apply_dense

    def _finish(self, update_ops, name_scope):
        with tf.control_dependencies(update_ops):
            beta1_power = self._get_non_slot_variable("beta1_power", graph=tf.get_default_graph())
            with tf.colocate_with(beta1_power):
                advance = tf.assign(beta1_power, beta1_power * self._beta1)
        return tf.group(*update_ops, advance, name=name_scope)


#: every chapter's optimisers by name; the options each takes are its constructor's keywords
OPTIMIZERS = {
    "sgd": tf.train.GradientDescentOptimizer,   # plain gradient descent
    "momentum": tf.train.MomentumOptimizer,     # momentum=0.9 unless given
    "adam": tf.train.AdamOptimizer,             # beta1, beta2, epsilon
    "adamax": AdamaxOptimizer,                  # beta1, beta2, epsilon
}
_DEFAULT_OPTIONS = {"momentum": {"momentum": 0.9}}  # MomentumOptimizer has no default of its own


def make_optimizer(optimizer, learning_rate, **options):
    """The ``tf.train.Optimizer`` called ``optimizer`` (a key of :data:`OPTIMIZERS`) at
    ``learning_rate`` (a float or a tensor, e.g. a decaying schedule).

    ``options`` are that optimiser's own settings (``momentum=0.9``, ``beta1=...``, and
    ``name=...`` for its variables' scope, as a second optimiser in one graph needs).
    """
    _check_optimizer(optimizer)
    return OPTIMIZERS[optimizer](learning_rate, **{**_DEFAULT_OPTIONS.get(optimizer, {}), **options})


def optimizer_factory(optimizer, **options):
    """``rate -> Optimizer`` for :func:`build_classifier`: :func:`make_optimizer` with the rate to come.

    The name is checked now, so a wrong one stops before any graph is built."""
    _check_optimizer(optimizer)
    return lambda rate: make_optimizer(optimizer, rate, **options)


def check_batch_size(batch_size, examples, what):
    """Refuse a batch larger than the data it is drawn from (it would only repeat images, and a
    huge one runs out of memory); ``what`` names the data, e.g. ``"the training split of X"``."""
    if examples <= 0:
        raise CookbookError(f"{what} is empty; it needs at least one example")
    if batch_size > examples:
        raise CookbookError(f"the batch size {batch_size} is larger than {what} ({examples} examples); "
                            f"choose {examples} or less", field="batch_size")
    return batch_size


def _check_optimizer(optimizer):
    if optimizer not in OPTIMIZERS:
        raise CookbookError(f"unknown optimiser {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}",
                            field="optimizer")


def given(overrides):
    """The entries of ``overrides`` whose value is not None: the settings a caller chose.

    Chapters take their settings as keywords where None means "the model's default", so
    ``dataclasses.replace(defaults, **given(overrides))`` applies only what was chosen."""
    return {name: value for name, value in overrides.items() if value is not None}


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


def evaluate_classifier(session, classifier, images, labels, batch_size=1000):
    """Accuracy (0..1) and probabilities of a :class:`Classifier` on a whole data set."""
    probabilities = predict_in_batches(session, classifier.probabilities, classifier.images, images, batch_size)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels)) if len(labels) else float("nan")
    return accuracy, probabilities


# ---------------------------------------------------------------------------------------------
# Checkpoints

NETWORK_INFO = "network.json"
HISTORY_FILE = "history.json"  # the run's history up to the newest checkpoint, kept beside it


def all_finite(variables, after=None):
    """One boolean tensor: every element of the float ``variables`` is finite.

    ``after`` (an op, e.g. the training step) orders the reads after it, so the check can ride
    in the same ``Session.run`` as the update it judges.  ``x * 0`` is 0 for any finite ``x`` and
    NaN for NaN or +-Inf, so one sum per variable settles it without overflowing on large weights.
    """
    floats = [v for v in variables if v.dtype.base_dtype.is_floating]
    with tf.control_dependencies([after] if after is not None else []):
        # read_value() makes a fresh read inside this control context (a plain tensor
        # conversion would reuse a snapshot taken before the update)
        zeros = [tf.reduce_sum(tf.cast(v.read_value(), tf.float32) * 0.0) for v in floats]
        return tf.is_finite(tf.add_n(zeros) if zeros else tf.constant(0.0), name="weights_are_finite")


_CHECKPOINT_FILE = re.compile(r"^(model\.ckpt-(\d+))\.(index|meta|data-\d+-of-\d+)$")


class Checkpoints:
    """Saver plus the folder it writes to: checked saves, resume from the newest good checkpoint.

    Every save is refused unless all saved variables are finite (:func:`all_finite`), so the
    newest checkpoint is always one a run can continue from.  The ``checkpoint`` state file holds
    paths relative to the folder, so a folder stays usable when it is moved or copied.
    """

    def __init__(self, directory, var_list=None, max_to_keep=5):
        self.directory = Path(directory)
        self.var_list = list(var_list) if var_list is not None else tf.global_variables()
        self.saver = tf.train.Saver(self.var_list, max_to_keep=max_to_keep, save_relative_paths=True)
        self.prefix = str(self.directory / "model.ckpt")
        self._finite = None

    def finite_check(self):
        """The stand-alone :func:`all_finite` op over the saved variables (built once)."""
        if self._finite is None:
            self._finite = all_finite(self.var_list)
        return self._finite

    def latest(self):
        """The newest checkpoint with its files present (the state file's order), or None."""
        return next((p for p in self.candidates() if Path(p + ".index").is_file()), None)

    def candidates(self):
        """Checkpoint prefixes in the folder, newest first, whatever state their files are in.

        The ``checkpoint`` state file's order comes first (an early-stopped run's best weights are
        saved last), then any other ``model.ckpt-N`` files by step.  Reading the file names too
        means a checkpoint whose ``.index`` is missing is still seen (and reported), not silently
        passed over; a state file pointing elsewhere (an old kept run) is read as this folder's.
        """
        if not self.directory.is_dir():
            return []
        found = {}
        for path in self.directory.iterdir():
            match = _CHECKPOINT_FILE.match(path.name)
            if match:
                found[match.group(1)] = int(match.group(2))
        listed = []
        state = tf.train.get_checkpoint_state(str(self.directory))
        if state is not None:
            for path in [state.model_checkpoint_path, *reversed(state.all_model_checkpoint_paths)]:
                name = Path(path).name
                if name in found and name not in listed:
                    listed.append(name)
        listed += sorted((n for n in found if n not in listed), key=found.get, reverse=True)
        return [str(self.directory / name) for name in listed]

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
                "same model and hyperparameters, or train into a new output folder", field=("model", "output_dir"))

    def _problem(self, session, path):
        """Why ``path`` cannot be restored into ``session`` (None: it was restored, and is finite)."""
        if not Path(path + ".index").is_file():
            return "its .index file is missing"
        if not list(self.directory.glob(Path(path).name + ".data-*")):
            return "its .data file is missing"
        try:
            self.check_compatible(path)
            self.saver.restore(session, path)
        except tf.errors.OpError as exc:  # truncated or corrupt files
            return f"it is damaged ({type(exc).__name__}: {first_line(exc, 120, type(exc).__name__)})"
        if not session.run(self.finite_check()):
            return "its weights are not finite"
        return None

    def restore(self, session, path=None, announce=tqdm.write):
        """Restore ``path``, or else the newest checkpoint that restores cleanly; returns its path.

        Newer checkpoints that fail are skipped and, with ``announce``, reported with the reason.
        A checkpoint of another network is refused at once (:meth:`check_compatible`).
        """
        tried = [path] if path else self.candidates()
        if not tried:
            raise CookbookError(f"no checkpoint in {self.directory}; train first or check the output folder",
                                field="output_dir")
        skipped = []
        for candidate in tried:
            problem = self._problem(session, candidate)
            if problem is None:
                if skipped and announce is not None:
                    announce(f"restored {Path(candidate).name}; skipped " +
                             "; ".join(f"{Path(p).name} ({why})" for p, why in skipped))
                return candidate
            skipped.append((candidate, problem))
        raise CookbookError(
            f"no checkpoint in {self.directory} restores: " +
            "; ".join(f"{Path(p).name}: {why}" for p, why in skipped) +
            "; start a fresh run instead of resuming (the damaged run is moved aside) or restore the files",
            field="resume")

    def start(self, session, resume, announce=tqdm.write):
        """Initialise variables, or restore the newest good checkpoint when ``resume``; returns the step.

        Starting afresh in a folder that already holds checkpoints moves them to
        ``<folder>.previous-<time>`` first, so an earlier run is never overwritten.
        """
        session.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
        found = self.candidates()
        if resume and found:
            path = self.restore(session, announce=announce)
            step = int(session.run(tf.train.get_global_step()))
            announce(f"resuming from {Path(path).name} (step {step})")
            return step
        if resume:
            announce(f"no checkpoint in {self.directory} to resume from; starting at step 0")
        elif found:
            kept = self.directory.with_name(f"{self.directory.name}.previous-{time.strftime('%Y%m%d-%H%M%S')}")
            shutil.move(str(self.directory), str(kept))
            announce(f"earlier checkpoints moved to {kept} (resume a run to continue it instead)")
        return 0

    def save(self, session, step, history=None, finite=None):
        """Save the variables as step ``step``, with ``history`` beside them; returns the path.

        ``finite`` is the value of :func:`all_finite` for these weights when the caller fetched
        it with the step (else it is computed here).  Weights that are not finite are never
        saved: :class:`TrainingDiverged` names the newest checkpoint, which is good.
        """
        if finite is None:
            finite = session.run(self.finite_check())
        if not finite:
            raise TrainingDiverged(f"the weights after step {step} are not finite, so they were not "
                                   f"saved; {_last_good(self)}; lower the learning rate or check the input data")
        ensure_dir(self.directory)
        try:
            # the history first: a kill between the two leaves rows past the newest checkpoint,
            # which a resume cuts off, never a checkpoint newer than its history
            if history is not None:
                write_json(self.directory / HISTORY_FILE, history.to_dict())
            path = self.saver.save(session, self.prefix, global_step=step)
        except (tf.errors.OpError, OSError) as exc:
            raise CookbookError(
                f"cannot write checkpoint {self.prefix}-{step} ({first_line(exc, 120, type(exc).__name__)}); free disk space or "
                f"fix the permissions of {self.directory}, then resume: earlier checkpoints are kept",
                field="resume") from None
        return path

    def discard(self, step):
        """Remove the checkpoint of ``step`` (weights shown to be bad), keeping the state file true."""
        name = f"model.ckpt-{step}"
        for path in self.directory.glob(name + ".*"):
            if _CHECKPOINT_FILE.match(path.name):
                path.unlink()
        state = tf.train.get_checkpoint_state(str(self.directory))
        if state is None:
            return
        kept = [Path(p).name for p in state.all_model_checkpoint_paths if Path(p).name != name]
        if kept:
            tf.train.update_checkpoint_state(str(self.directory), kept[-1], kept)
        else:
            (self.directory / "checkpoint").unlink()
        self.saver.recover_last_checkpoints([p for p in self.saver.last_checkpoints if Path(p).name != name])

    def saved_history(self, step):
        """The history saved with the checkpoints, cut at ``step`` (an empty one if there is none)."""
        path = self.directory / HISTORY_FILE
        try:
            saved = json.loads(path.read_text())
            history = History(train=saved["train"], evals=saved["evals"])
        except FileNotFoundError:
            return History()
        except (OSError, ValueError, KeyError, TypeError):
            raise CookbookError(f"{path} is unreadable or damaged; move it away to resume without the "
                                "earlier history") from None
        return history.truncated(step)


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

    def truncated(self, step):
        """A copy without the rows after ``step`` (what a checkpoint of ``step`` had seen)."""
        def cut(table):
            keep = sum(1 for s in table["step"] if s <= step)
            return {name: list(column[:keep]) for name, column in table.items()}
        return History(cut(self.train), cut(self.evals))

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

    @property
    def weights_step(self):
        """The step whose weights the session (and the newest checkpoint) holds at the end."""
        return self.best_step if self.best_step is not None else self.final_step


def _last_good(checkpoints):
    latest = checkpoints.latest() if checkpoints else None
    return f"the last good checkpoint is {latest}" if latest else "no checkpoint had been written yet"


def _diverged(step, loss, checkpoints):
    if checkpoints is not None:
        # the weights that gave this loss are those of the step before; a checkpoint of them
        # would only diverge again, so it goes, and the newest checkpoint left is named
        checkpoints.discard(step - 1)
    return TrainingDiverged(f"loss became {loss} at step {step}; training stopped and {_last_good(checkpoints)}; "
                            "lower the learning rate or check the input data")


class StopRequests:
    """While active, SIGINT and SIGTERM only ask the loop to stop after the current step.

    A second signal interrupts at once (KeyboardInterrupt).  Signal handlers can only be set from
    the main thread; elsewhere this does nothing and signals act as usual.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.received = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        return False


def _interrupted(signum, step, saved):
    name = signal.Signals(signum).name
    kept = f"checkpoint {Path(saved).name} saved" if saved else "no checkpoint saved (none was asked for)"
    return Interrupted(f"{name} received; stopped after step {step}, {kept}; resume the run to continue",
                       exit_status=128 + signum, field="resume")


def fit(session, model, steps, *, start_step=0, feed=None, evaluate=None, eval_every=None,
        checkpoints=None, checkpoint_every=None, summary_writer=None, summary_every=10,
        early_stopping=None, progress=True, history=None, describe=None, global_step=None):
    """Train from ``start_step`` up to ``steps`` (total, so a resumed run finishes the same count).

    ``model`` is anything with ``train_op``, ``loss`` and ``accuracy`` tensors (a
    :class:`Classifier`, or the towers of a queue-fed model).  ``feed()`` returns the
    feed dict of one step (omit it for queue or tf.data inputs).  ``evaluate(session)`` returns a
    dict of metrics; it runs every ``eval_every`` steps and on the last step.
    ``describe(step, train_values, eval_values)`` may return the line printed at each evaluation.
    ``summary_writer``: a :class:`cnn_cookbook.summaries.RunWriters`; training scalars (and the
    graph's other summaries) go to its ``train/`` run every ``summary_every`` steps, histograms
    every ``summary_writer.histogram_every`` steps, evaluations to ``eval/`` / ``validation/``.
    ``global_step``, a tensor read after each update, makes the step count its value instead of
    counting this loop's updates (cluster mode: the other workers advance it too); evaluations
    and checkpoints then fall on the first step at or past each multiple of their interval.

    With ``checkpoints``, every save is checked finite first (in the step's own ``Session.run``),
    the history is saved beside each checkpoint, and a resumed run (``start_step`` > 0) carries
    on the saved history unless ``history`` is given.  SIGINT/SIGTERM stop after the current
    step with a checkpoint and raise :class:`cnn_cookbook.errors.Interrupted`.  With early
    stopping, the best weights are restored at the end and, with ``checkpoints``, saved there as
    the newest checkpoint, so whoever loads the folder gets them.
    """
    if history is None:
        history = checkpoints.saved_history(start_step) if checkpoints is not None and start_step else History()
    fetches = {"train": model.train_op, "loss": model.loss}
    if global_step is not None:
        fetches["global_step"] = global_step
    if getattr(model, "accuracy", None) is not None:
        fetches["accuracy"] = model.accuracy
    summary_op = histogram_op = None
    if summary_writer is not None:
        summary_op, histogram_op = summaries.training_summary_ops()
        histogram_every = summary_writer.histogram_every
    finite = all_finite(checkpoints.var_list, after=model.train_op) if checkpoints is not None else None

    def save(step, values=None):
        return checkpoints.save(session, step, history, finite=(values or {}).get("finite"))

    train_seconds, step, stopped = 0.0, start_step, False
    bar = progress_lines.bar(total=steps, initial=start_step, enabled=progress, unit="step", desc="train")
    try:
        with StopRequests() as stop:
            while step < steps:
                run_fetches = dict(fetches)
                summarise = summary_writer is not None and ((step + 1) % summary_every == 0 or step + 1 == steps)
                if summarise and summary_op is not None:
                    run_fetches["summary"] = summary_op
                if histogram_op is not None and histogram_every and (step + 1) % histogram_every == 0:
                    run_fetches["histograms"] = histogram_op
                if finite is not None and (step + 1 == steps or
                                           (checkpoint_every and (step + 1) % checkpoint_every == 0)):
                    run_fetches["finite"] = finite  # a planned save: judge the update in its own run
                feed_dict = feed() if feed else None
                began = time.perf_counter()
                values = session.run(run_fetches, feed_dict)
                train_seconds += time.perf_counter() - began
                previous, step = step, (int(values["global_step"]) if global_step is not None else step + 1)
                loss = float(values["loss"])
                if not math.isfinite(loss):
                    raise _diverged(step, loss, checkpoints)
                history.log_train(step, loss, values.get("accuracy"))
                if summary_writer is not None:
                    summary_writer.train_step(step, values, summarise)
                bar.update(max(0, step - previous))
                if step % 10 == 0 or step >= steps:
                    bar.set_postfix(loss=f"{loss:.3f}", **({"acc": f"{values['accuracy']:.3f}"} if "accuracy" in values else {}))
                last = step >= steps
                if evaluate is not None and eval_every and (step // eval_every > previous // eval_every or last):
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
                if checkpoints is not None and (stopped or last or stop.received or
                                                (checkpoint_every and
                                                 step // checkpoint_every > previous // checkpoint_every)):
                    saved = save(step, values)
                if stop.received:
                    raise _interrupted(stop.received, step, saved if checkpoints is not None else None)
                if stopped:
                    break
    finally:
        bar.close()
        if summary_writer is not None:
            summary_writer.flush()
    best_step = None
    if early_stopping is not None and early_stopping.best_checkpoints is not None \
            and early_stopping.best_checkpoints.latest():
        early_stopping.best_checkpoints.restore(session, early_stopping.best_checkpoints.latest())
        best_step = early_stopping.best_step
        if checkpoints is not None and best_step != step:
            save(best_step)  # the newest checkpoint now holds the best weights (global step = best)
    return FitResult(history, start_step, step, train_seconds, stopped, best_step)
