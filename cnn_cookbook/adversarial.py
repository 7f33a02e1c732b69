"""Adversarial examples: Hvass-Labs #12 (universal MNIST noise and immunity), #11 (targeted
adversarial images) and the fast gradient sign method (TensorFlow's current FGSM tutorial).

Universal noise (#12), graph pieces and the steps around them:

- :func:`build_noisy_classifier` puts a noise variable in front of any network:
  ``clip(images + noise, 0, 1)``.  The noise is not trainable, so the normal optimiser leaves it
  alone; a second optimiser (Adam 1e-2) minimises the cross-entropy towards a *target* class plus
  ``0.02 * l2_loss(noise)`` over the noise only, and every adversarial step clips the noise to
  +-0.35 (in the same ``Session.run``, ordered by a control dependency).
- :func:`find_universal_noise` (one target), :func:`find_all_noise` (one per class),
  :func:`make_immune` (find noise, then train the network normally with that noise in place),
  all driven by :func:`cnn_cookbook.training.fit`.

Targeted adversarial images (#11) and FGSM, on any loaded classifier given as a
:class:`cnn_cookbook.graphs.ImageNetwork` (``images`` is the tensor that is fed and
differentiated, ``logits``, ``value_range``):

- :func:`cnn_cookbook.nets.inception_v3.inception_v3_network`: Inception v3's frozen graph (or its
  stand-in) seen from the resized image ``ResizeBilinear:0``, the gradient's input as in Hvass #11;
- :func:`cnn_cookbook.nets.checkpoint.load_checkpoint_network`: a checkpoint of the MNIST/CIFAR recipes;
- :func:`build_targeted_attack` + :func:`find_adversarial_images`: step ``7 / max|g|`` against the
  gradient of the target-class cross-entropy, noise limit 3, both on the 0..255 scale (scaled to
  the network's pixel range), until the target score reaches 0.99 or 100 steps;
- :func:`build_fgsm` + :func:`fgsm_images` / :func:`fgsm_accuracy`: ``x + eps * sign(grad)`` of the
  loss of the true label, clipped to the pixel range; ``eps`` is a fraction of the full pixel range.

Fixed against the seed: #12 ran the noise clip in a separate ``Session.run`` after each step
(here one run, ordered); #12's ``init_noise`` reset the noise but not the adversarial Adam
optimiser's moments, so each new target started with the previous target's momentum (here
:func:`reset_noise` resets both); #12's immunity rounds started each attack from the previous
target's noise (here each attack starts from zero, so "accuracy under attack" measures a fresh
attack); #11 returned ``score_source_org``, a name that did not exist, and a noise that was one
update ahead of the returned noisy image (here ``noise == adversarial - original``).
"""

import contextlib
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from cnn_cookbook import plots, training
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.tf1 import tf

NOISE_COLLECTION = "adversary_variables"

#: what :func:`cnn_cookbook.training.fit` needs to run adversarial steps (accuracy: share of the
#: batch classified as the target)
AdversaryStep = namedtuple("AdversaryStep", ["train_op", "loss", "accuracy"])

NoisyClassifier = namedtuple("NoisyClassifier", training.ClassifierGraph._fields + (
    "noise",          # variable [H, W, C], within +-noise_limit, not trainable
    "noisy_images",   # clip(images + noise, 0, 1): what the network sees
    "adversary",      # AdversaryStep: Adam on target cross-entropy + l2 weight * l2_loss(noise), then clip
    "reset_noise",    # op: noise and the adversarial optimiser's state back to their initial values
    "noise_limit",
))


# ---------------------------------------------------------------------------------------------
# Hvass #12: one noise image for all inputs


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
    step = tf.train.AdamOptimizer(adversary_learning_rate, name="AdversaryAdam").minimize(
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


# ---------------------------------------------------------------------------------------------
# Loaded classifiers (Hvass #11 and FGSM)


def _pixel_scale(network):
    low, high = network.value_range
    return float(high - low)


def predict_probabilities(session, network, probabilities, images, batch_size=500):
    """Run the ``probabilities`` tensor of ``network`` over ``images`` (in its value range)."""
    size = network.batch_size or batch_size
    return training.predict_in_batches(session, probabilities, network.images, images, size)


TargetedAttack = namedtuple("TargetedAttack", [
    "target",         # int32 placeholder [N]: the class each image should become
    "probabilities",  # softmax of the network's logits [N, classes]
    "loss",           # [N] cross-entropy of each image towards its target
    "gradient",       # d loss / d images, same shape as the network's images
])


def build_targeted_attack(network):
    """Graph pieces for Hvass #11 on ``network``: the target-class loss and its input gradient.

    The per-image losses are summed before differentiating, so each image gets the gradient of
    its own loss (the networks here have no layers that mix images of a batch at inference).
    """
    target = tf.placeholder(tf.int32, [None], name="adversary_target")
    logits = network.logits
    if logits.get_shape().ndims != 2:
        logits = tf.reshape(logits, [-1, int(logits.get_shape()[-1])])
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=logits)
    gradient = tf.gradients(tf.reduce_sum(loss), network.images)[0]
    return TargetedAttack(target, tf.nn.softmax(logits), loss, gradient)


@dataclass
class AdversarialImages:
    """Result of :func:`find_adversarial_images`; images in the network's value range.

    ``noise == adversarial - original`` and ``|noise| <= noise_limit`` (network scale);
    scores are softmax probabilities 0..1; ``steps`` is the number of noise updates per image.
    """

    original: np.ndarray
    adversarial: np.ndarray
    noise: np.ndarray
    targets: np.ndarray
    source_classes: np.ndarray        # predicted class of the original
    source_scores_original: np.ndarray
    source_scores: np.ndarray         # score of the source class on the adversarial image
    target_scores_original: np.ndarray
    target_scores: np.ndarray
    predictions: np.ndarray           # predicted class of the adversarial image
    steps: np.ndarray
    target_score_history: list        # mean target score of the images still being changed, per step

    @property
    def success(self):
        return self.predictions == self.targets


def find_adversarial_images(session, network, attack, images, targets, noise_limit=3.0, step_size=7.0,
                            required_score=0.99, max_steps=100, feed=None, on_step=None):
    """Hvass #11 for a batch: change each image until its ``targets`` score reaches ``required_score``.

    ``images`` [N, H, W, C] in the network's value range; ``noise_limit`` and ``step_size`` are on the
    0..255 scale (3 and 7: at least one colour value moves by 7 per step, none by more than 3 in
    total) and are scaled to the network's range.  Each step subtracts ``step / max|g|`` times the
    gradient of the image's target-class loss from its noise, clips the noise to the limit and the
    noisy image to the pixel range.  An image stops changing once its target score is reached;
    the search ends after ``max_steps`` updates; ``on_step()`` is called after each (a progress
    bar's update).  Returns :class:`AdversarialImages`.
    """
    images = np.asarray(images, np.float32)
    targets = np.broadcast_to(np.asarray(targets, np.int32), (len(images),)).copy()
    low, high = network.value_range
    scale = _pixel_scale(network) / 255.0
    limit, step = noise_limit * scale, step_size * scale
    chunk = network.batch_size or len(images)
    feed = dict(feed or {})

    def evaluate(batch, batch_targets, with_gradient):
        fetches = [attack.probabilities, attack.gradient] if with_gradient else [attack.probabilities]
        outputs = [session.run(fetches, {**feed, network.images: batch[i:i + chunk],
                                         attack.target: batch_targets[i:i + chunk]})
                   for i in range(0, len(batch), chunk)]
        return [np.concatenate([o[k] for o in outputs]) for k in range(len(fetches))]

    (original_probs,) = evaluate(images, targets, False)
    noise = np.zeros_like(images)
    steps = np.zeros(len(images), np.int64)
    active = np.ones(len(images), bool)
    history = []
    for _ in range(max_steps):
        index = np.flatnonzero(active)
        if len(index) == 0:
            break
        noisy = np.clip(images[index] + noise[index], low, high)
        probs, gradient = evaluate(noisy, targets[index], True)
        target_scores = probs[np.arange(len(index)), targets[index]]
        history.append(float(target_scores.mean()))
        reached = target_scores >= required_score
        active[index[reached]] = False
        moving, gradient = index[~reached], gradient[~reached]
        if len(moving) == 0:
            break
        # a floor on max|g| because it divides: a flat gradient must not give an infinite step
        absmax = np.maximum(np.abs(gradient).reshape(len(moving), -1).max(axis=1), 1e-10)
        update = (step / absmax).reshape((-1,) + (1,) * (images.ndim - 1)) * gradient
        noise[moving] = np.clip(noise[moving] - update, -limit, limit)
        steps[moving] += 1
        if on_step is not None:
            on_step()
    adversarial = np.clip(images + noise, low, high)
    (final_probs,) = evaluate(adversarial, targets, False)
    sources = original_probs.argmax(axis=1)
    rows = np.arange(len(images))
    return AdversarialImages(images, adversarial, adversarial - images, targets, sources,
                             original_probs[rows, sources], final_probs[rows, sources],
                             original_probs[rows, targets], final_probs[rows, targets],
                             final_probs.argmax(axis=1), steps, history)


FastGradientSign = namedtuple("FastGradientSign", [
    "labels",          # int32 placeholder [N]: the class whose loss is increased (the true label)
    "probabilities",   # softmax of the network's logits [N, classes]
    "signed_gradient",  # sign(d loss / d images), values -1, 0, 1
])


def build_fgsm(network):
    """FGSM graph pieces: the sign of the input gradient of the cross-entropy of ``labels``."""
    labels = tf.placeholder(tf.int32, [None], name="fgsm_labels")
    logits = network.logits
    if logits.get_shape().ndims != 2:
        logits = tf.reshape(logits, [-1, int(logits.get_shape()[-1])])
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return FastGradientSign(labels, tf.nn.softmax(logits), tf.sign(tf.gradients(tf.reduce_sum(loss), network.images)[0]))


def signed_gradients(session, network, fgsm, images, labels, batch_size=500, feed=None):
    """sign(gradient) for every image, float32 like ``images``."""
    size = network.batch_size or batch_size
    parts = [session.run(fgsm.signed_gradient, {**(feed or {}), network.images: images[i:i + size],
                                                 fgsm.labels: labels[i:i + size]})
             for i in range(0, len(images), size)]
    return np.concatenate(parts)


def fgsm_images(images, signs, epsilon, value_range):
    """``clip(images + epsilon * range * signs)``; ``epsilon`` is a fraction of the pixel range.

    (TensorFlow's tutorial feeds MobileNetV2 images in -1..1, a range of 2, so its epsilon 0.1 is
    0.05 here.)
    """
    if epsilon < 0:
        raise CookbookError(f"FGSM epsilons must be >= 0, got {epsilon}")
    low, high = value_range
    return np.clip(images + np.float32(epsilon * (high - low)) * signs, low, high).astype(np.float32)


def fgsm_accuracy(session, network, fgsm, images, labels, epsilons, batch_size=500):
    """Accuracy (0..1) of ``network`` on FGSM images for each epsilon; also the adversarial images
    of the first 5 inputs per epsilon, for plotting.  Returns (list of dicts, dict eps -> images)."""
    labels = np.asarray(labels, np.int32)
    signs = signed_gradients(session, network, fgsm, images, labels, batch_size)
    rows, examples = [], {}
    for epsilon in epsilons:
        perturbed = fgsm_images(images, signs, epsilon, network.value_range)
        probabilities = predict_probabilities(session, network, fgsm.probabilities, perturbed, batch_size)
        predictions = probabilities.argmax(axis=1)
        rows.append({"epsilon": float(epsilon), "accuracy": float(np.mean(predictions == labels)),
                     "examples": int(len(labels))})
        examples[float(epsilon)] = (perturbed[:5], predictions[:5], probabilities[:5].max(axis=1))
    return rows, examples


# ---------------------------------------------------------------------------------------------
# Figures


def _figure(width, height):
    from cnn_cookbook.plots import new_figure

    return new_figure(width, height)


def _plain(image):
    image = np.asarray(image)
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def noise_figure(noises, titles, limit, title="Adversarial noise (red > 0, blue < 0)", cols=5):
    """Noise images [K, H, W, C] (C=1) in a seismic colour map from -limit to +limit (Hvass #12)."""
    noises = np.asarray(noises)
    count = len(noises)
    cols = min(cols, count)
    rows = -(-count // cols)
    fig = _figure(1.8 * cols + 0.8, 1.9 * rows + 0.4)
    for i in range(count):
        ax = fig.add_subplot(rows, cols, i + 1)
        shown = ax.imshow(_plain(noises[i]).mean(axis=-1) if noises[i].shape[-1] == 3 else _plain(noises[i]),
                          cmap="seismic", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_xlabel(titles[i])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=fig.axes, shrink=0.8)
    fig.suptitle(title)
    return fig


def noisy_examples_figure(images, noise, labels, predictions, class_names, count=9):
    """The first ``count`` test images with the noise added, titled true / predicted class."""
    noisy = np.clip(np.asarray(images[:count]) + noise, 0.0, 1.0)
    titles = [f"True: {class_names[t]} Pred: {class_names[p]}" for t, p in zip(labels[:count], predictions[:count])]
    return plots.image_grid(noisy, titles, cols=3, title="Test images with the adversarial noise")


def immunity_figure(rounds):
    """Accuracy under each fresh attack and after the immunity steps, per round."""
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    x = np.arange(len(rounds))
    ax.plot(x, [100 * r["accuracy_under_attack"] for r in rounds], "rv-", label="under attack")
    ax.plot(x, [100 * r["accuracy_after_immunity"] for r in rounds], "g^-", label="after immunity steps")
    ax.set_xticks(x, [str(r["target"]) for r in rounds])
    ax.set(xlabel="target class of each round", ylabel="test accuracy with the noise (%)", ylim=(0, 100),
           title="Immunity training (Hvass #12)")
    ax.legend(loc="lower right")
    return fig


def _normalize(image):
    """Stretch to 0..1 (the seed's 'amplified noise')."""
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def targeted_figure(result, index, class_name, value_range):
    """Hvass #11's figure: original, adversarial image, amplified noise, with the scores."""
    i = index
    source, target = int(result.source_classes[i]), int(result.targets[i])
    top = value_range[1]
    images = [result.original[i], result.adversarial[i], _normalize(result.noise[i]) * top]
    titles = [f"Original:\n{class_name(source)} ({100 * result.source_scores_original[i]:.2f}%)",
              f"Image + noise:\n{class_name(source)} ({100 * result.source_scores[i]:.2f}%)\n"
              f"{class_name(target)} ({100 * result.target_scores[i]:.2f}%)",
              f"Amplified noise\n(limit +-{np.abs(result.noise[i]).max() * 255 / top:.2f} of 255)"]
    return plots.image_grid(images, titles, cols=3, vmax=top, size=3.0)


def fgsm_curve_figure(rows, title="FGSM: accuracy against epsilon"):
    fig = _figure(6, 4)
    ax = fig.add_subplot()
    ax.plot([r["epsilon"] for r in rows], [100 * r["accuracy"] for r in rows], "o-")
    ax.set(xlabel="epsilon (fraction of the pixel range)", ylabel="accuracy (%)", ylim=(0, 100), title=title)
    ax.grid(alpha=0.3)
    return fig


def fgsm_examples_figure(examples, class_name, value_range, count=5):
    """One row per epsilon: adversarial images titled with prediction and confidence."""
    epsilons = list(examples)
    images, titles = [], []
    for epsilon in epsilons:
        perturbed, predictions, scores = examples[epsilon]
        for image, prediction, score in list(zip(perturbed, predictions, scores))[:count]:
            images.append(image)
            titles.append(f"eps {epsilon:g}: {class_name(int(prediction))}\n{100 * score:.1f}%")
    cols = min(count, len(examples[epsilons[0]][0]))
    return plots.image_grid(images, titles, cols=cols, vmax=value_range[1], title="FGSM examples")


# ---------------------------------------------------------------------------------------------
# Whole experiments (what the recipes run)


@dataclass(frozen=True)
class NoiseSettings:
    """Hvass #12's values (seed 004): the Hvass CNN, Adam 1e-4, batch 64, 1000 normal steps, noise
    limit 0.35, l2 weight 0.02, adversarial Adam 1e-2; 1000 steps for one target, 300 for each of the
    ten, immunity rounds of 500 adversarial + 200 normal steps (twice per class, its last run)."""

    network: str = "hvass-cnn"
    learning_rate: float = 1e-4
    batch_size: int = 64
    steps: int = 1000
    noise_limit: float = 0.35
    noise_l2_weight: float = 0.02
    adversary_learning_rate: float = 1e-2
    target: int = 3
    target_steps: int = 1000
    all_steps: int = 300
    immunity_adversary_steps: int = 500
    immunity_steps: int = 200
    immunity_repeats: int = 2
    immunity_targets: tuple = tuple(range(10))


@dataclass
class NoiseRun:
    metrics: dict
    figures: dict
    noises: dict        # name -> float32 array ([H, W, C] or [10, H, W, C])


def universal_noise_experiment(data, settings=NoiseSettings(), seed=0, device="auto", checkpoint=None,
                               progress=False, announce=print, summaries_dir=None):
    """Hvass #12 end to end on ``data`` (:class:`cnn_cookbook.datasets.mnist.MnistData`).

    Train the network (or restore its weights from ``checkpoint``, a checkpoints folder of the MNIST
    recipe), find the noise for ``settings.target`` and for every class, run the immunity rounds,
    and measure clean and noisy test accuracy before and after.  Returns a :class:`NoiseRun`.
    With ``summaries_dir``, TensorBoard events: ``train/`` and ``adversary/`` loss and accuracy
    on one step axis through every phase (:class:`StepLog`), ``eval/`` clean and noisy
    accuracies as they are measured, and the noise images.
    """
    from cnn_cookbook import summaries
    from cnn_cookbook.cli import check_batch_size
    from cnn_cookbook.nets import get_network
    from cnn_cookbook.tf1 import new_session, resolve_device, seed_everything

    check_batch_size(settings.batch_size, len(data.train), f"the training split of {data.name}")
    classes = len(data.class_names)
    bad = [t for t in (settings.target, *settings.immunity_targets) if not 0 <= t < classes]
    if bad:
        raise CookbookError(f"target class {bad[0]} is not a class of {data.name} (0..{classes - 1})")
    test_images, test_labels = data.test.images, data.test.labels
    network_name = settings.network
    if checkpoint is not None:
        info = training.read_network_info(checkpoint)
        network_name = info["network"]
        if [int(d) for d in info.get("image_shape", [])] != list(data.image_shape):
            raise CookbookError(f"{checkpoint} holds a network for {info.get('image_shape')} images, not "
                                f"{list(data.image_shape)}; give a checkpoint of the MNIST recipe")
    graph = tf.Graph()
    with graph.as_default():
        rng = seed_everything(seed)
        net = build_noisy_classifier(get_network(network_name), data.image_shape, classes,
                                     lambda rate: tf.train.AdamOptimizer(rate), settings.learning_rate,
                                     settings.noise_limit, settings.noise_l2_weight,
                                     settings.adversary_learning_rate)
        writers = summaries.RunWriters(summaries_dir, graph) if summaries_dir else None
        log = StepLog(writers)
        limits = (-settings.noise_limit, settings.noise_limit)
        with new_session(graph, device) as session, contextlib.ExitStack() as stack:
            if writers is not None:
                stack.enter_context(writers)
            session.run(tf.global_variables_initializer())
            if checkpoint is not None:
                path = training.Checkpoints(checkpoint, var_list=tf.trainable_variables()).restore(session)
                announce(f"network weights restored from {path}")
            else:
                announce(f"training the {network_name} network for {settings.steps} steps")
                train_steps(session, net, data.train, settings.steps, settings.batch_size, rng, progress, log)

            def evaluate(target=None):
                return noisy_evaluation(session, net, test_images, test_labels, target)

            metrics = {"clean_accuracy_before": evaluate()["accuracy"]}
            log.scalars("eval", {"clean_accuracy": metrics["clean_accuracy_before"]})
            announce(f"clean test accuracy {100 * metrics['clean_accuracy_before']:.2f}%; "
                     f"finding the noise for target {settings.target}")
            target_noise = find_universal_noise(session, net, data.train, settings.target, settings.target_steps,
                                                settings.batch_size, rng, progress=progress, log=log)
            attacked = evaluate(settings.target)
            log.scalars("eval", {"noisy_accuracy": attacked["accuracy"], "to_target": attacked["to_target"]})
            log.images("eval", "noise_target", target_noise, limits)
            metrics.update(target=settings.target, noisy_accuracy_target=attacked["accuracy"],
                           to_target_share=attacked["to_target"],
                           noise_min=float(target_noise.min()), noise_max=float(target_noise.max()),
                           noise_std=float(target_noise.std()))
            figures = {"noise_target": noise_figure([target_noise], [f"target {settings.target}"],
                                                    settings.noise_limit, cols=1),
                       "noisy_examples": noisy_examples_figure(test_images, target_noise, test_labels,
                                                               attacked["predictions"], data.class_names),
                       "confusion_matrix_noisy": plots.confusion_matrix(
                           test_labels, attacked["predictions"], data.class_names,
                           title=f"Test set with the noise for target {settings.target}")}
            announce(f"with the noise: accuracy {100 * attacked['accuracy']:.2f}%, "
                     f"{100 * attacked['to_target']:.1f}% classified as {settings.target}; "
                     "finding the noise for every class")
            all_noise = find_all_noise(session, net, data.train, settings.all_steps, settings.batch_size, rng,
                                       classes, progress=progress, log=log)
            log.images("eval", "noise_all_targets", all_noise, limits)
            before = [accuracy_with_noise(session, net, n, test_images, test_labels) for n in all_noise]
            metrics["noisy_accuracy_per_target_before"] = before
            figures["noise_all_targets"] = noise_figure(all_noise, [str(c) for c in range(classes)],
                                                        settings.noise_limit)
            rounds = []
            for target in settings.immunity_targets:
                for _ in range(settings.immunity_repeats):
                    rounds.append(make_immune(session, net, data.train, target, settings.immunity_adversary_steps,
                                              settings.immunity_steps, settings.batch_size, rng, test_images,
                                              test_labels, progress=progress, log=log))
                    log.scalars("eval", {"noisy_accuracy": rounds[-1]["accuracy_under_attack"],
                                         "accuracy_after_immunity": rounds[-1]["accuracy_after_immunity"]})
                    announce("immunity round, target {target}: {a:.2f}% under attack, {b:.2f}% after the "
                             "normal steps".format(target=target, a=100 * rounds[-1]["accuracy_under_attack"],
                                                   b=100 * rounds[-1]["accuracy_after_immunity"]))
            metrics["immunity_rounds"] = rounds
            metrics["noisy_accuracy_last_noise_after"] = evaluate()["accuracy"] if rounds else None
            after = [accuracy_with_noise(session, net, n, test_images, test_labels) for n in all_noise]
            metrics["noisy_accuracy_per_target_after"] = after
            metrics["noisy_accuracy_before"] = float(np.mean(before))
            metrics["noisy_accuracy_after"] = float(np.mean(after))
            reset_noise(session, net)
            metrics["clean_accuracy_after"] = evaluate()["accuracy"]
            log.scalars("eval", {"clean_accuracy": metrics["clean_accuracy_after"]})
            find_universal_noise(session, net, data.train, settings.target, settings.target_steps,
                                 settings.batch_size, rng, progress=progress, log=log)
            fresh = evaluate(settings.target)
            log.scalars("eval", {"noisy_accuracy": fresh["accuracy"], "to_target": fresh["to_target"]})
            metrics.update(fresh_attack_accuracy_after=fresh["accuracy"], fresh_attack_to_target_after=fresh["to_target"])
            if rounds:
                figures["immunity"] = immunity_figure(rounds)
    metrics.update(recipe="adversarial_noise", dataset=data.name, network=network_name,
                   restored_from=str(checkpoint) if checkpoint else None, test_examples=int(len(test_labels)),
                   settings={k: getattr(settings, k) for k in settings.__dataclass_fields__}, seed=seed,
                   device=resolve_device(device), tensorflow=tf.VERSION)
    return NoiseRun(metrics, figures, {"target_noise": target_noise, "all_noise": all_noise})


@dataclass(frozen=True)
class ImageAttackSettings:
    """Hvass #11 (noise limit 3 and step 7 on the 0..255 scale, stop at 0.99 or 100 steps) and the
    FGSM epsilons (TensorFlow's tutorial: 0, 0.01, 0.1, 0.15; extended for the accuracy curve)."""

    target: int = 3
    noise_limit: float = 3.0
    step_size: float = 7.0
    required_score: float = 0.99
    max_steps: int = 100
    epsilons: tuple = (0.0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    targeted: bool = True
    fgsm: bool = True


def image_attack_experiment(session, network, images, fgsm_inputs=None, fgsm_labels=None,
                            settings=ImageAttackSettings(), class_name=str, figures_for=3, progress=True,
                            writers=None):
    """Targeted attack (Hvass #11) on ``images`` and FGSM on ``fgsm_inputs`` for a loaded ``network``.

    Images are [N, H, W, C] in the network's value range; ``session`` runs the network's graph.
    ``fgsm_labels``: the true classes of ``fgsm_inputs``, or None (a single photo: FGSM then uses
    the network's own prediction as the label, as TensorFlow's tutorial uses the class it
    predicted).  ``fgsm_inputs`` defaults to ``images``.  Returns ``(metrics, figures)``.
    ``writers`` (a :class:`cnn_cookbook.summaries.RunWriters`) receives, in ``eval/``: the mean
    target score at each targeted step, the first images (original, adversarial, noise x10 around
    grey), and FGSM's accuracy at step = epsilon x 1000.
    """
    from cnn_cookbook import progress as progress_lines

    classes = int(network.logits.get_shape()[-1])
    if not 0 <= settings.target < classes:
        raise CookbookError(f"--target {settings.target} is not a class of this network (0..{classes - 1})")
    metrics, figures = {}, {}
    if settings.targeted:
        attack = build_targeted_attack(network)
        with progress_lines.bar(total=settings.max_steps, desc="targeted", unit="step", enabled=progress) as bar:
            result = find_adversarial_images(session, network, attack, images, settings.target, settings.noise_limit,
                                             settings.step_size, settings.required_score, settings.max_steps,
                                             on_step=bar.update)
        scale = 255.0 / _pixel_scale(network)
        if writers is not None:
            for step, score in enumerate(result.target_score_history, 1):
                writers.scalars("eval", step, {"targeted/mean_target_score": score})
            shown = slice(0, figures_for)
            low, high = network.value_range
            for tag, batch, value_range in (
                    ("targeted/original", result.original[shown], (low, high)),
                    ("targeted/adversarial", result.adversarial[shown], (low, high)),
                    ("targeted/noise_x10", 0.5 * (low + high) + 10 * result.noise[shown], (low, high))):
                writers.images("eval", tag, list(batch), int(result.steps.max()) if len(result.steps) else 0,
                               value_range)
        metrics["targeted"] = {
            "images": int(len(images)), "target": settings.target, "noise_limit_0_255": settings.noise_limit,
            "step_size_0_255": settings.step_size, "required_score": settings.required_score,
            "max_steps": settings.max_steps, "success_rate": float(result.success.mean()),
            "reached_required_score": float(np.mean(result.target_scores >= settings.required_score)),
            "mean_target_score": float(result.target_scores.mean()),
            "mean_target_score_original": float(result.target_scores_original.mean()),
            "mean_steps": float(result.steps.mean()),
            "max_abs_noise_0_255": float(np.abs(result.noise).max() * scale),
            "noise_std_0_255": float(result.noise.std() * scale),
            "per_image": [{"source": int(s), "source_score_original": float(so), "source_score": float(sa),
                           "target_score": float(t), "prediction": int(p), "steps": int(n)}
                          for s, so, sa, t, p, n in zip(result.source_classes, result.source_scores_original,
                                                        result.source_scores, result.target_scores,
                                                        result.predictions, result.steps)][:100],
        }
        for i in range(min(figures_for, len(images))):
            figures[f"targeted_{i}"] = targeted_figure(result, i, class_name, network.value_range)
    if settings.fgsm:
        fgsm = build_fgsm(network)
        inputs = images if fgsm_inputs is None else fgsm_inputs
        labels = fgsm_labels
        if labels is None:
            labels = predict_probabilities(session, network, fgsm.probabilities, inputs).argmax(axis=1)
        rows, examples = fgsm_accuracy(session, network, fgsm, inputs, labels, settings.epsilons)
        if writers is not None:
            for row in rows:
                writers.scalars("eval", round(1000 * row["epsilon"]), {"fgsm/accuracy": row["accuracy"]})
        metrics["fgsm"] = {"labels": "true classes" if fgsm_labels is not None else "the network's prediction",
                           "curve": rows}
        figures["fgsm_accuracy"] = fgsm_curve_figure(
            rows, "FGSM: accuracy against epsilon" if fgsm_labels is not None
            else "FGSM: is the original prediction kept?")
        figures["fgsm_examples"] = fgsm_examples_figure(examples, class_name, network.value_range)
    return metrics, figures


def checkpoint_test_set(info, dataset=None, data_dir=None, download=False):
    """The test images [N, H, W, C] (floats 0..1) and labels of the data set a checkpoint was trained on.

    ``info`` is the checkpoint's ``network.json``; ``dataset`` overrides its ``dataset`` entry.
    MNIST-type networks: mnist, fashion, synthetic or idx:<folder>.  CIFAR-10 networks (names
    ``cifar10-*``): cifar10 or synthetic, read from the binary batches (``data_dir``, default
    ``data/``) and centrally cropped to the network's image size, as the CIFAR recipe evaluates.
    """
    name = dataset or info.get("dataset") or "synthetic"
    shape = [int(d) for d in info.get("image_shape", [28, 28, 1])]
    if str(info.get("network", "")).startswith("cifar10"):
        from cnn_cookbook.datasets.cifar10 import find_cifar10, read_binary_split
        from cnn_cookbook.paths import data_root

        if name not in ("auto", "cifar10", "synthetic"):
            raise CookbookError(f"a CIFAR-10 network is tested on --dataset cifar10 or synthetic, not {name!r}")
        batches_dir, _ = find_cifar10(name, data_dir or data_root(), download=download, announce=None)
        images, labels = read_binary_split(batches_dir, "test")
        top, left = (images.shape[1] - shape[0]) // 2, (images.shape[2] - shape[1]) // 2
        images = images[:, top:top + shape[0], left:left + shape[1]]
        return images.astype(np.float32) / 255.0, labels.astype(np.int32)
    from cnn_cookbook.datasets.mnist import load_mnist

    if name.startswith("idx:"):
        name, data_dir = "idx", data_dir or name[4:]
    if name in ("mnist", "fashion", "synthetic", "idx"):
        data = load_mnist(name, data_dir, download=download)
        return data.test.images, data.test.labels
    raise CookbookError(f"no test set is known for data set {name!r} of this checkpoint; pass --dataset "
                        "mnist|fashion|synthetic|idx:<folder>")


if __name__ == "__main__":  # `python -m cnn_cookbook.adversarial` says which recipe to run
    from cnn_cookbook.__main__ import run_as_module

    run_as_module("adversarial")
