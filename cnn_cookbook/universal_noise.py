"""Hvass-Labs #12: one adversarial noise image for all inputs of a classifier, and immunity to it.

- :func:`build_noisy_classifier` puts a noise variable in front of any network:
  ``clip(images + noise, 0, 1)``.  The noise is not trainable, so the normal optimiser leaves it
  alone; a second optimiser (Adam 1e-2) minimises the cross-entropy towards a *target* class plus
  ``0.02 * l2_loss(noise)`` over the noise only, and every adversarial step clips the noise to
  +-0.35 (in the same ``Session.run``, ordered by a control dependency).
- :func:`find_universal_noise` (one target), :func:`find_all_noise` (one per class),
  :func:`make_immune` (find noise, then train the network normally with that noise in place),
  all driven by :func:`cnn_cookbook.training.fit` inside a Session the caller opened
  (the chapter: :func:`cnn_cookbook.adversarial.universal_noise_experiment`).

Fixed against the tutorial: #12 ran the noise clip in a separate ``Session.run`` after each step
(here one run, ordered); #12's ``init_noise`` reset the noise but not the adversarial Adam
optimiser's moments, so each new target started with the previous target's momentum (here
:func:`reset_noise` resets both); #12's immunity rounds started each attack from the previous
target's noise (here each attack starts from zero, so "accuracy under attack" measures a fresh
attack).
"""

from collections import namedtuple

import numpy as np

from cnn_cookbook import training
from cnn_cookbook.tf1 import tf

NOISE_COLLECTION = "adversary_variables"

#: what :func:`cnn_cookbook.training.fit` needs to run adversarial steps (accuracy: share of the
#: batch classified as the target)
AdversaryStep = namedtuple("AdversaryStep", ["train_op", "loss", "accuracy"])

NoisyClassifier = namedtuple("NoisyClassifier", training.Classifier._fields + (
    "noise",          # variable [H, W, C], within +-noise_limit, not trainable
    "noisy_images",   # clip(images + noise, 0, 1): what the network sees
    "adversary",      # AdversaryStep: Adam on target cross-entropy + l2 weight * l2_loss(noise), then clip
    "reset_noise",    # op: noise and the adversarial optimiser's state back to their initial values
    "noise_limit",
))


def build_noisy_classifier(network, image_shape, num_classes, optimizer, learning_rate, noise_limit=0.35,
                           noise_l2_weight=0.02, adversary_learning_rate=1e-2):
    """:func:`cnn_cookbook.training.build_classifier` with an adversarial noise layer in front.

    ``images`` (placeholder, [None, H, W, C], 0..1) get ``noise`` added and are clipped to 0..1
    before ``network``.  ``train_op`` trains the network's variables only; ``adversary.train_op``
    trains the noise only (feed the target class as ``labels``) and clips it to +-``noise_limit``.
    """
    made = {}

    def noisy_network(images, classes, is_training):
        noise = tf.get_variable("adversarial_noise", list(image_shape), tf.float32, tf.zeros_initializer(),
                                trainable=False,
                                collections=[tf.GraphKeys.GLOBAL_VARIABLES, NOISE_COLLECTION])
        made["noise"] = noise
        made["noisy"] = tf.clip_by_value(images + noise, 0.0, 1.0, name="noisy_images")
        return network(made["noisy"], classes, is_training)

    net = training.build_classifier(noisy_network, image_shape, num_classes, optimizer, learning_rate)
    noise = made["noise"]
    adversary_loss = tf.add(net.loss, noise_l2_weight * tf.nn.l2_loss(noise), name="adversary_loss")
    before = set(tf.global_variables())
    step = training.make_optimizer("adam", adversary_learning_rate, name="AdversaryAdam").minimize(
        adversary_loss, var_list=[noise])
    adversary_state = [v for v in tf.global_variables() if v not in before]
    with tf.control_dependencies([step]):
        # read_value() inside the dependency: the clip sees the noise after this step's update
        clip = tf.assign(noise, tf.clip_by_value(noise.read_value(), -noise_limit, noise_limit))
    reset = tf.variables_initializer([noise] + adversary_state, name="reset_noise")
    return NoisyClassifier(*net, noise, made["noisy"], AdversaryStep(clip.op, adversary_loss, net.accuracy),
                           reset, noise_limit)


def reset_noise(session, net):
    session.run(net.reset_noise)


def get_noise(session, net):
    """The current noise, float32 [H, W, C]."""
    return session.run(net.noise)


def set_noise(session, net, noise):
    net.noise.load(np.asarray(noise, np.float32), session)


def _batches(split, batch_size, rng, images_ph, labels_ph, target=None):
    def feed():
        images, labels = split.next_batch(batch_size, rng)
        if target is not None:
            labels = np.full_like(labels, target)
        return {images_ph: images, labels_ph: labels}
    return feed


class StepLog:
    """TensorBoard scalars of an experiment made of many short training phases, on one step axis.

    Each phase's per-step loss and accuracy go to its run (``train/`` for normal steps,
    ``adversary/`` for noise steps, where accuracy is the share classified as the target) at
    ``offset + step``, every ``every`` steps; ``step`` then moves on by the phase's length.
    ``writers``: a :class:`cnn_cookbook.summaries.RunWriters`, or None to log nothing.
    """

    def __init__(self, writers=None, every=10):
        self.writers, self.every, self.step = writers, every, 0

    def record(self, run, history):
        steps = history.train["step"]
        if self.writers is not None:
            for index, (step, loss, accuracy) in enumerate(zip(steps, history.train["loss"],
                                                                history.train["accuracy"])):
                if step % self.every == 0 or index == len(steps) - 1:
                    self.writers.scalars(run, self.step + index + 1, {"loss": loss, "accuracy": accuracy})
        self.step += len(steps)

    def scalars(self, run, values):
        if self.writers is not None:
            self.writers.scalars(run, self.step, values)

    def images(self, run, tag, images, value_range):
        if self.writers is not None:
            self.writers.images(run, tag, images, self.step, value_range)


def train_steps(session, net, split, steps, batch_size, rng, progress=False, log=None):
    """``steps`` normal optimiser steps on ``split`` (with whatever noise is in place); a History."""
    history = training.fit(session, net, steps, feed=_batches(split, batch_size, rng, net.images, net.labels),
                           progress=progress).history
    if log is not None:
        log.record("train", history)
    return history


def find_universal_noise(session, net, split, target, steps, batch_size, rng, reset=True, progress=False,
                         log=None):
    """Optimise the noise so that ``split``'s images are classified as ``target``; returns the noise.

    Each of the ``steps`` adversarial steps takes a training batch with every label replaced by
    ``target``; the network's weights do not change.  ``log``: a :class:`StepLog`.
    """
    if reset:
        reset_noise(session, net)
    result = training.fit(session, net.adversary, steps,
                          feed=_batches(split, batch_size, rng, net.images, net.labels, target), progress=progress)
    if log is not None:
        log.record("adversary", result.history)
    return get_noise(session, net)


def noisy_evaluation(session, net, images, labels, target=None):
    """Accuracy (0..1), predictions and (with ``target``) the share predicted as ``target``,
    with the noise now in the graph."""
    accuracy, probabilities = training.evaluate_classifier(session, net, images, labels)
    predictions = probabilities.argmax(axis=1)
    result = {"accuracy": accuracy, "predictions": predictions}
    if target is not None:
        result["to_target"] = float(np.mean(predictions == target))
    return result


def find_all_noise(session, net, split, steps, batch_size, rng, num_classes, progress=False, log=None):
    """Noise for every target class 0..num_classes-1, each from zero: float32 [classes, H, W, C]."""
    return np.stack([find_universal_noise(session, net, split, target, steps, batch_size, rng,
                                          progress=progress, log=log) for target in range(num_classes)])


def accuracy_with_noise(session, net, noise, images, labels):
    """Accuracy with a given ``noise`` in place (the graph's noise is restored afterwards)."""
    kept = get_noise(session, net)
    set_noise(session, net, noise)
    try:
        return training.evaluate_classifier(session, net, images, labels)[0]
    finally:
        set_noise(session, net, kept)


def make_immune(session, net, split, target, adversary_steps, immune_steps, batch_size, rng, test_images,
                test_labels, progress=False, log=None):
    """Hvass #12's ``make_immune``: find noise towards ``target``, then train the network normally
    with that noise added to every input.  Returns accuracies on the test images under the noise
    before and after the normal steps (0..1)."""
    find_universal_noise(session, net, split, target, adversary_steps, batch_size, rng, progress=progress, log=log)
    attacked = noisy_evaluation(session, net, test_images, test_labels, target)
    train_steps(session, net, split, immune_steps, batch_size, rng, progress=progress, log=log)
    after = noisy_evaluation(session, net, test_images, test_labels)
    return {"target": int(target), "accuracy_under_attack": attacked["accuracy"],
            "to_target_under_attack": attacked["to_target"], "accuracy_after_immunity": after["accuracy"]}
