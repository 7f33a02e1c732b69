"""The adversarial chapters: Hvass-Labs #12 (universal MNIST noise and immunity) and #11 (targeted
adversarial images) with the fast gradient sign method, as whole runs.

The ideas live in their own modules: :mod:`cnn_cookbook.universal_noise` (#12's noise layer and
steps), :mod:`cnn_cookbook.attacks` (#11 and FGSM on any loaded classifier) and
:mod:`cnn_cookbook.adversarial_plots` (the figures).  Here are the two chapter entry functions,
each owning its Graph and Session and returning a :class:`cnn_cookbook.results.ChapterRun`:

- :func:`universal_noise_experiment` (``recipes/adversarial_noise.py``): train or restore an MNIST
  network, find the noise for one target and for every class, run the immunity rounds;
- :func:`attack_images` (``recipes/adversarial_image.py``): load a classifier
  (:class:`ClassifierSource`: a checkpoint of the MNIST/CIFAR recipes or Inception v3) and run
  :func:`image_attack_experiment`, the targeted attack and FGSM inside a Session.

:func:`checkpoint_test_set` finds the test set a checkpoint was trained on.
"""

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cnn_cookbook import plots, progress as progress_lines, run_folder, summaries, training
from cnn_cookbook.adversarial_plots import (fgsm_curve_figure, fgsm_examples_figure, immunity_figure, noise_figure,
                                            noisy_examples_figure, targeted_figure)
from cnn_cookbook.attacks import (build_fgsm, build_targeted_attack, fgsm_accuracy, find_adversarial_images,
                                  pixel_scale, predict_probabilities)
from cnn_cookbook.datasets.cifar10 import find_cifar10, read_binary_split
from cnn_cookbook.datasets.mnist import Split, load_mnist
from cnn_cookbook.errors import CookbookError
from cnn_cookbook.fileio import atomic_path, save_image
from cnn_cookbook.nets import get_network
from cnn_cookbook.nets import inception_v3 as iv3
from cnn_cookbook.checkpoint_network import load_checkpoint_network
from cnn_cookbook.paths import data_root
from cnn_cookbook.results import ChapterRun
from cnn_cookbook.tf1 import new_session, resolve_device, seed_everything, tf
from cnn_cookbook.universal_noise import (StepLog, accuracy_with_noise, build_noisy_classifier, find_all_noise,
                                          find_universal_noise, make_immune, noisy_evaluation, reset_noise,
                                          train_steps)


def _claimed(output_dir):
    """The run's hold on ``output_dir`` (:func:`cnn_cookbook.run_folder.claim`); nothing without one."""
    return run_folder.claim(output_dir) if output_dir is not None else contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------
# Hvass #12: universal noise


@dataclass(frozen=True)
class NoiseSettings:
    """Hvass #12's values (the tutorial's values): the Hvass CNN, Adam 1e-4, batch 64, 1000 normal steps, noise
    limit 0.35, l2 weight 0.02, adversarial Adam 1e-2; 1000 steps for one target, 300 for each of the
    ten, immunity rounds of 500 adversarial + 200 normal steps (twice per class, its last run)."""

    # a table of the tutorial's values (alike other chapters' settings only in shape)
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


NOISE_FILE = "noise.npz"


def universal_noise_experiment(data, settings=NoiseSettings(), *, output_dir=None, seed=0, device="auto",
                               checkpoint=None, progress=False, announce=print, summaries_dir=None):
    """Hvass #12 end to end on ``data`` (:class:`cnn_cookbook.datasets.mnist.MnistData`), in a Graph
    and Session of its own; returns a :class:`~cnn_cookbook.results.ChapterRun`.

    Train the network (or restore its weights from ``checkpoint``, a checkpoints folder of the MNIST
    recipe), find the noise for ``settings.target`` and for every class, run the immunity rounds,
    and measure clean and noisy test accuracy before and after (``metrics``).  ``outputs``:
    ``target_noise`` float32 [H, W, C] and ``all_noise`` [classes, H, W, C], within +-noise_limit.
    With ``output_dir`` the run holds that folder (an earlier run there is moved aside first) and
    writes the noises as ``noise.npz`` and TensorBoard events into ``summaries_dir`` (default
    ``<output_dir>/tensorboard``): ``train/`` and ``adversary/`` loss and accuracy on one step axis
    through every phase (:class:`cnn_cookbook.universal_noise.StepLog`), ``eval/`` clean and noisy
    accuracies as they are measured, and the noise images.  Metrics and figures are returned, not written.
    """
    with _claimed(output_dir):
        return _universal_noise(data, settings, output_dir, seed, device, checkpoint, progress, announce,
                                summaries_dir)


def _universal_noise(data, settings, output_dir, seed, device, checkpoint, progress, announce, summaries_dir):
    training.check_batch_size(settings.batch_size, len(data.train), f"the training split of {data.name}")
    # a pass of its own over the training images: the split's batch order is state, and a
    # notebook that runs the chapter twice on one data set must see the same batches twice
    train = Split(data.train.images, data.train.labels)
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
    paths = {}
    if output_dir is not None:
        run_folder.keep_earlier_run(output_dir, announce=announce, summaries_dir=summaries_dir)
        summaries_dir = paths["tensorboard"] = summaries.events_folder(output_dir, summaries_dir)
    graph = tf.Graph()
    with graph.as_default():
        rng = seed_everything(seed)
        net = build_noisy_classifier(get_network(network_name), data.image_shape, classes,
                                     training.optimizer_factory("adam"), settings.learning_rate,
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
                train_steps(session, net, train, settings.steps, settings.batch_size, rng, progress, log)

            def evaluate(target=None):
                return noisy_evaluation(session, net, test_images, test_labels, target)

            metrics = {"clean_accuracy_before": evaluate()["accuracy"]}
            log.scalars("eval", {"clean_accuracy": metrics["clean_accuracy_before"]})
            announce(f"clean test accuracy {100 * metrics['clean_accuracy_before']:.2f}%; "
                     f"finding the noise for target {settings.target}")
            target_noise = find_universal_noise(session, net, train, settings.target, settings.target_steps,
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
            all_noise = find_all_noise(session, net, train, settings.all_steps, settings.batch_size, rng,
                                       classes, progress=progress, log=log)
            log.images("eval", "noise_all_targets", all_noise, limits)
            before = [accuracy_with_noise(session, net, n, test_images, test_labels) for n in all_noise]
            metrics["noisy_accuracy_per_target_before"] = before
            figures["noise_all_targets"] = noise_figure(all_noise, [str(c) for c in range(classes)],
                                                        settings.noise_limit)
            rounds = []
            for target in settings.immunity_targets:
                for _ in range(settings.immunity_repeats):
                    rounds.append(make_immune(session, net, train, target, settings.immunity_adversary_steps,
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
            find_universal_noise(session, net, train, settings.target, settings.target_steps,
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
    noises = {"target_noise": target_noise, "all_noise": all_noise}
    if output_dir is not None:
        paths["noise"] = Path(output_dir) / NOISE_FILE
        with atomic_path(paths["noise"]) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **noises)
    return ChapterRun(metrics, figures, paths=paths, outputs=noises)


# ---------------------------------------------------------------------------------------------
# Hvass #11 and FGSM on a loaded classifier


@dataclass(frozen=True)
class ImageAttackSettings:
    """Hvass #11 (noise limit 3 and step 7 on the 0..255 scale, stop at 0.99 or 100 steps) and the
    FGSM epsilons (TensorFlow's tutorial: 0, 0.01, 0.1, 0.15; extended for the accuracy curve)."""

    target: int = 3   # None in attack_images: 3 for a checkpoint, 300 (bookcase) for Inception v3
    noise_limit: float = 3.0
    step_size: float = 7.0
    required_score: float = 0.99
    max_steps: int = 100
    epsilons: tuple = (0.0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    targeted: bool = True
    fgsm: bool = True


def check_target(network, target):
    """A clear error when ``target`` is not one of ``network``'s classes."""
    classes = int(network.logits.get_shape()[-1])
    if not 0 <= target < classes:
        raise CookbookError(f"target {target} is not a class of this network (0..{classes - 1})", field="target")


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
    check_target(network, settings.target)
    metrics, figures = {}, {}
    if settings.targeted:
        attack = build_targeted_attack(network)
        with progress_lines.bar(total=settings.max_steps, desc="targeted", unit="step", enabled=progress) as bar:
            result = find_adversarial_images(session, network, attack, images, settings.target, settings.noise_limit,
                                             settings.step_size, settings.required_score, settings.max_steps,
                                             on_step=bar.update)
        scale = 255.0 / pixel_scale(network)
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
        if name not in ("auto", "cifar10", "synthetic"):
            raise CookbookError(f"a CIFAR-10 network is tested on the data set cifar10 or synthetic, not {name!r}",
                                field="dataset")
        batches_dir, _ = find_cifar10(name, data_dir or data_root(), download=download, announce=None)
        images, labels = read_binary_split(batches_dir, "test")
        top, left = (images.shape[1] - shape[0]) // 2, (images.shape[2] - shape[1]) // 2
        images = images[:, top:top + shape[0], left:left + shape[1]]
        return images.astype(np.float32) / 255.0, labels.astype(np.int32)
    if name.startswith("idx:"):
        name, data_dir = "idx", data_dir or name[4:]
    if name in ("mnist", "fashion", "synthetic", "idx"):
        data = load_mnist(name, data_dir, download=download)
        return data.test.images, data.test.labels
    raise CookbookError(f"no test set is known for data set {name!r} of this checkpoint; choose mnist, fashion, "
                        "synthetic or idx:<folder>", field="dataset")


@dataclass(frozen=True)
class ClassifierSource:
    """Which classifier :func:`attack_images` attacks, and on what.

    ``model``: ``checkpoint`` (a network trained by the MNIST/CIFAR recipes, in ``checkpoint_dir``
    with its network.json) or Inception v3 (``auto``: the real graph if present or ``download``,
    else the stand-in; ``inception_v3``; ``stand-in``); a ``graph_file`` (.pb) implies ``auto``.
    A checkpoint is attacked on its test set (``dataset`` and ``data_dir`` override network.json):
    the first ``count`` images not of the target class get the targeted attack, the first
    ``fgsm_count`` (default all) FGSM.  Inception v3 attacks one photo, ``image`` (default: the
    archive's cropped_panda.jpg, or a generated picture with the stand-in).
    """

    # one field per flag of the recipe (a table of settings, alike other chapters' only in shape)
    model: str = "checkpoint"
    checkpoint_dir: str = "runs/mnist_cnn/checkpoints"
    dataset: str = None
    data_dir: str = None
    graph_file: str = None
    models_dir: str = None
    image: str = None
    download: bool = False
    count: int = 20
    fgsm_count: int = None

    @property
    def inception(self):
        return self.model != "checkpoint" or self.graph_file is not None


def demo_picture(size=320):
    """A made-up colourful picture (uint8 HxWx3) for the stand-in graph when no image is given."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    picture = np.stack([xx, yy, 0.5 + 0.5 * np.sin(12 * xx * yy)], axis=-1)
    picture[(xx - 0.6) ** 2 + (yy - 0.4) ** 2 < 0.05] = (0.9, 0.2, 0.1)
    return (255 * picture).astype(np.uint8)


@dataclass
class _Loaded:
    """A classifier built in the chapter's graph, with what is attacked (arrays in its value range)."""

    network: object
    class_name: object          # class index -> text
    target: int
    described: str
    image: Path = None          # Inception: the photo, resized once the Session is open
    images: np.ndarray = None   # the targeted attack's inputs
    fgsm_inputs: np.ndarray = None
    fgsm_labels: np.ndarray = None  # None: FGSM uses the network's own prediction


def _load_inception(source, target, announce):
    files = iv3.locate_inception_v3("auto" if source.model == "checkpoint" else source.model, source.graph_file,
                                   source.models_dir, source.download)
    graph_def = iv3.load_inception_graph_def(files.graph_path)
    stand_in = iv3.is_stand_in(graph_def)
    if stand_in:
        announce(f"using the {iv3.STAND_IN_LABEL} graph {files.graph_path}: the code path of Hvass #11, "
                 "not its result; --model inception_v3 --download for the real network")
    labels = (iv3.load_imagenet_labels(files.label_map, files.synset_map)
              if files.label_map and files.synset_map else None)
    network = iv3.inception_v3_network(graph_def, iv3.model_name(stand_in), source=files.graph_path)
    image = source.image or files.example_image
    return _Loaded(network, lambda i: iv3.label_for(i, labels, stand_in), 300 if target is None else target,
                   f"{iv3.model_name(stand_in)} on {image or 'input.png'}", image=image)


def _load_checkpoint(source, target):
    info = training.read_network_info(source.checkpoint_dir)
    network = load_checkpoint_network(source.checkpoint_dir)
    images, labels = checkpoint_test_set(info, source.dataset, source.data_dir, source.download)
    target = 3 if target is None else target
    chosen = np.flatnonzero(labels != target)[:source.count]
    names = info.get("class_names")
    fgsm_count = source.fgsm_count or len(labels)
    return _Loaded(network, (lambda i: names[i]) if names else str, target,
                   f"{info['network']} checkpoint {source.checkpoint_dir} on {info.get('dataset')}",
                   images=images[chosen], fgsm_inputs=images[:fgsm_count], fgsm_labels=labels[:fgsm_count])


def attack_images(source=ClassifierSource(), settings=ImageAttackSettings(target=None), *,
                  output_dir="runs/adversarial_image", seed=0, device="auto", progress=True, summaries_dir=None,
                  announce=print):
    """The chapter of Hvass #11 and FGSM: load the classifier ``source`` names and attack it with
    :func:`image_attack_experiment`, in a Graph and Session of its own; returns a
    :class:`~cnn_cookbook.results.ChapterRun`.

    ``settings.target`` None picks 3 for a checkpoint, 300 (bookcase) for Inception iv3.  The run
    holds ``output_dir`` (an earlier run there is moved aside first) and writes there the generated
    picture (``input.png``, stand-in without an image) and TensorBoard events in ``summaries_dir``
    (default ``<output_dir>/tensorboard``; ``eval/``, see :func:`image_attack_experiment`); metrics
    and figures are returned, not written.  ``outputs``: ``classifier`` (what was attacked),
    ``target_name``, ``inception`` (True for Inception v3).  ``seed`` is recorded (the attacks draw
    no random numbers).
    """
    with run_folder.claim(output_dir) as output_dir:
        graph = tf.Graph()
        with graph.as_default():
            loaded = (_load_inception(source, settings.target, announce) if source.inception
                      else _load_checkpoint(source, settings.target))
        settings = replace(settings, target=loaded.target)
        check_target(loaded.network, settings.target)
        run_folder.keep_earlier_run(output_dir, announce=announce, summaries_dir=summaries_dir)
        paths = {"tensorboard": summaries.events_folder(output_dir, summaries_dir)}
        if source.inception and loaded.image is None:
            loaded.image = paths["input"] = save_image(output_dir / "input.png", demo_picture())
        with new_session(graph, device) as session, summaries.RunWriters(paths["tensorboard"], graph) as writers:
            if source.inception:
                loaded.images = loaded.fgsm_inputs = iv3.resized_image(session, loaded.network, loaded.image)
            else:
                loaded.network.restore(session)
            metrics, figures = image_attack_experiment(session, loaded.network, loaded.images, loaded.fgsm_inputs,
                                                       loaded.fgsm_labels, settings, loaded.class_name,
                                                       progress=progress, writers=writers)
    metrics.update(recipe="adversarial_image", classifier=loaded.described, seed=seed,
                   device=resolve_device(device), tensorflow=tf.VERSION)
    return ChapterRun(metrics, figures, paths=paths,
                      outputs={"classifier": loaded.described, "target_name": loaded.class_name(settings.target),
                               "inception": source.inception})
