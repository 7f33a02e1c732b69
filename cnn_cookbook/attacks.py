"""Attacks on a loaded classifier: Hvass-Labs #11 (targeted adversarial images) and the fast
gradient sign method (TensorFlow's FGSM tutorial).

The classifier is a :class:`cnn_cookbook.graphs.ImageNetwork` (``images`` is the tensor that is
fed and differentiated, ``logits``, ``value_range``): Inception v3 seen from its resized image
(:func:`cnn_cookbook.nets.inception_v3.inception_v3_network`) or a checkpoint of the MNIST/CIFAR
recipes (:func:`cnn_cookbook.checkpoint_network.load_checkpoint_network`).  Both attacks follow the
input gradient of a cross-entropy (:func:`class_loss_gradient`):

- :func:`build_targeted_attack` + :func:`find_adversarial_images`: step ``7 / max|g|`` against the
  gradient of the target-class cross-entropy, noise limit 3, both on the 0..255 scale (scaled to
  the network's pixel range), until the target score reaches 0.99 or 100 steps;
- :func:`build_fgsm` + :func:`fgsm_images` / :func:`fgsm_accuracy`: ``x + eps * sign(grad)`` of the
  loss of the true label, clipped to the pixel range; ``eps`` is a fraction of the full pixel range.

Fixed against the tutorial: #11 returned ``score_source_org``, a name that did not exist, and a
noise that was one update ahead of the returned noisy image (here ``noise == adversarial - original``).
"""

from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from cnn_cookbook import training
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.tf1 import tf


def pixel_scale(network):
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


def class_loss_gradient(network, name):
    """The input gradient both attacks follow, as graph pieces on ``network``.

    Returns ``(classes, probabilities, loss, gradient)``: an int32 placeholder [N] named ``name``,
    the softmax of the logits [N, classes], each image's cross-entropy towards its class [N], and
    d loss / d ``network.images``.  The per-image losses are summed before differentiating, so
    each image gets the gradient of its own loss (the networks here have no layers that mix
    images of a batch at inference).
    """
    classes = tf.placeholder(tf.int32, [None], name=name)
    logits = network.logits
    if logits.get_shape().ndims != 2:
        logits = tf.reshape(logits, [-1, int(logits.get_shape()[-1])])
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=classes, logits=logits)
    gradient = tf.gradients(tf.reduce_sum(loss), network.images)[0]
    return classes, tf.nn.softmax(logits), loss, gradient


def build_targeted_attack(network):
    """Graph pieces for Hvass #11 on ``network``: the target-class loss and its input gradient."""
    return TargetedAttack(*class_loss_gradient(network, "adversary_target"))


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
    scale = pixel_scale(network) / 255.0
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
    labels, probabilities, _, gradient = class_loss_gradient(network, "fgsm_labels")
    return FastGradientSign(labels, probabilities, tf.sign(gradient))


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
