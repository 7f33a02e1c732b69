#!/usr/bin/env python
"""Hvass-Labs #11 targeted adversarial images and FGSM, on a trained checkpoint or Inception v3.

  python recipes/mnist_cnn.py --model hvass-cnn --dataset synthetic      # first: a trained network
  python recipes/adversarial_image.py --checkpoint-dir runs/mnist_cnn/checkpoints
  python recipes/adversarial_image.py --model inception_v3 --download --image parrot.jpg --target 300
  python recipes/adversarial_image.py --model stand-in                  # offline: the random stand-in graph

Targeted (#11): the noise moves each image towards --target with steps of 7/max|gradient| (on the
0..255 scale) against the gradient of the target-class loss with respect to the network's input
(Inception v3: the resized image ResizeBilinear:0), the noise clipped to +-3 (0..255 scale),
until the target score reaches 0.99 or 100 steps.  FGSM: x + epsilon * sign(gradient of the true
class's loss), clipped, for each --epsilons value (a fraction of the pixel range); the accuracy
against epsilon is plotted.  Writes metrics.json, PNG plots and tensorboard/ (eval/: the
original, adversarial and noise images, the mean target score per step, FGSM accuracy) into
--output-dir.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402


def parse_args(argv):
    p = cli.parser(__doc__)
    cli.add_run_args(p, output_dir="runs/adversarial_image")
    src = p.add_argument_group("classifier (a checkpoint unless --model or --graph says otherwise)")
    src.add_argument("--model", choices=("checkpoint", "auto", "inception_v3", "stand-in"), default="checkpoint",
                     type=cli.spellings(**{"inception-v3": "inception_v3"}),
                     help="checkpoint: a network trained by the MNIST/CIFAR recipes (--checkpoint-dir); "
                          "Inception v3 (auto: the real graph if present or --download, else the stand-in)")
    src.add_argument("--checkpoint-dir", default="runs/mnist_cnn/checkpoints",
                     help="checkpoints folder (with network.json) of the MNIST or CIFAR-10 recipe")
    src.add_argument("--dataset", help="test set for the checkpoint (default: the one in its network.json): "
                                       "mnist, fashion, synthetic or idx:<folder>")
    src.add_argument("--data-dir", help="folder of that data set")
    src.add_argument("--graph", help="path of classify_image_graph_def.pb (implies --model auto)")
    src.add_argument("--models-dir", help="folder holding inception/ (default: models)")
    src.add_argument("--image", help="Inception: the image to attack (default: the archive's cropped_panda.jpg, "
                                     "or a generated picture with the stand-in)")
    src.add_argument("--download", action="store_true", help="download missing files")
    a = p.add_argument_group("attacks")
    a.add_argument("--attack", choices=("both", "targeted", "fgsm"), default="both",
                   help="targeted: Hvass #11; fgsm: the fast gradient sign method")
    a.add_argument("--target", type=cli.integer(0), help="target class: 3 for a checkpoint, 300 (bookcase) for Inception")
    a.add_argument("--count", type=cli.positive(), default=20,
                   help="checkpoint: test images (not of the target class) given the targeted attack")
    a.add_argument("--noise-limit", type=cli.positive(float), default=3.0, help="max |noise|, 0..255 scale")
    a.add_argument("--step-size", type=cli.positive(float), default=7.0, help="largest change per step, 0..255 scale")
    a.add_argument("--required-score", type=cli.real(above=0, maximum=1), default=0.99, help="stop when the target's score reaches this")
    a.add_argument("--steps", type=cli.positive(), default=100, help="maximum targeted steps")
    a.add_argument("--epsilons", default="0,0.01,0.05,0.1,0.15,0.2,0.25,0.3",
                   help="FGSM epsilons, fractions of the pixel range")
    a.add_argument("--fgsm-count", type=cli.positive(), help="checkpoint: test images for FGSM (default: all)")
    cli.add_summary_args(p, histograms=False)
    cli.alias(p, "--checkpoint-dir", "--checkpoint")
    cli.alias(p, "--model", "--inception")
    return p.parse_args(argv)


def uses_inception(args):
    return args.model != "checkpoint" or args.graph is not None


def demo_picture(size=320):
    """A made-up colourful picture (uint8 HxWx3) for the stand-in graph when no --image is given."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size] / size
    picture = np.stack([xx, yy, 0.5 + 0.5 * np.sin(12 * xx * yy)], axis=-1)
    picture[(xx - 0.6) ** 2 + (yy - 0.4) ** 2 < 0.05] = (0.9, 0.2, 0.1)
    return (255 * picture).astype(np.uint8)


def load_classifier(args, session_for, announce=print):
    """(network, session, attack images, fgsm images, fgsm labels, class_name, target, description)."""
    import numpy as np

    from cnn_cookbook import adversarial as adv
    from cnn_cookbook.fileio import save_image

    if uses_inception(args):
        from cnn_cookbook.nets import inception_v3 as v3

        model = "auto" if args.model == "checkpoint" else args.model
        files = v3.locate_inception_v3(model, args.graph, args.models_dir, args.download)
        graph_def = v3.load_inception_graph_def(files.graph_path)
        stand_in = v3.is_stand_in(graph_def)
        if stand_in:
            announce(f"using the {v3.STAND_IN_LABEL} graph {files.graph_path}: the code path of Hvass #11, "
                     "not its result; --model inception_v3 --download for the real network")
        labels = (v3.load_imagenet_labels(files.label_map, files.synset_map)
                  if files.label_map and files.synset_map else None)
        network = v3.inception_v3_network(graph_def, v3.model_name(stand_in), source=files.graph_path)
        session = session_for(network.graph)
        image = args.image or files.example_image
        if image is None:
            image = save_image(Path(args.output_dir) / "input.png", demo_picture())
        resized = v3.resized_image(session, network, image)
        return (network, session, resized, resized, None, lambda i: v3.label_for(i, labels, stand_in),
                300 if args.target is None else args.target, f"{v3.model_name(stand_in)} on {image}")
    from cnn_cookbook import training
    from cnn_cookbook.nets.checkpoint import load_checkpoint_network

    info = training.read_network_info(args.checkpoint_dir)
    network = load_checkpoint_network(args.checkpoint_dir)
    session = session_for(network.graph)
    network.restore(session)
    images, labels = adv.checkpoint_test_set(info, args.dataset, args.data_dir, args.download)
    target = 3 if args.target is None else args.target
    chosen = np.flatnonzero(labels != target)[:args.count]
    names = info.get("class_names")
    fgsm_count = args.fgsm_count or len(labels)
    return (network, session, images[chosen], images[:fgsm_count], labels[:fgsm_count],
            (lambda i: names[i]) if names else str, target,
            f"{info['network']} checkpoint {args.checkpoint_dir} on {info.get('dataset')}")


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    from cnn_cookbook import adversarial as adv
    from cnn_cookbook import summaries
    from cnn_cookbook.errors import CookbookError
    from cnn_cookbook.fileio import ensure_dir
    from cnn_cookbook.tf1 import new_session, resolve_device, tf

    try:
        epsilons = tuple(float(e) for e in args.epsilons.split(",") if e.strip())
    except ValueError:
        raise CookbookError(f"--epsilons must be numbers separated by commas, not {args.epsilons!r}") from None
    if any(e < 0 for e in epsilons):
        raise CookbookError(f"--epsilons must be >= 0, got {args.epsilons}")
    output_dir = ensure_dir(args.output_dir, field="output_dir")
    sessions = []

    def session_for(graph):
        sessions.append(new_session(graph, args.device))
        return sessions[-1]

    with tf.Graph().as_default():
        try:
            network, session, images, fgsm_inputs, fgsm_labels, class_name, target, described = \
                load_classifier(args, session_for)
            settings = adv.ImageAttackSettings(target, args.noise_limit, args.step_size, args.required_score,
                                               args.steps, epsilons, args.attack != "fgsm", args.attack != "targeted")
            with summaries.RunWriters(cli.summaries_dir(args), network.graph) as writers:
                metrics, figures = adv.image_attack_experiment(session, network, images, fgsm_inputs, fgsm_labels,
                                                               settings, class_name, progress=not args.no_progress,
                                                               writers=writers)
        finally:
            for session in sessions:
                session.close()
    metrics.update(recipe="adversarial_image", classifier=described, seed=args.seed,
                   device=resolve_device(args.device), tensorflow=tf.VERSION)
    cli.write_outputs(output_dir, metrics, figures=figures, show=args.show)
    print(f"classifier: {described}")
    if "targeted" in metrics:
        t = metrics["targeted"]
        print(f"targeted towards {class_name(target)}: {100 * t['success_rate']:.1f}% of {t['images']} image(s) "
              f"now classified as the target (mean target score {100 * t['mean_target_score']:.2f}%, "
              f"{t['mean_steps']:.1f} steps, |noise| <= {t['max_abs_noise_0_255']:.2f} of 255)")
        if t["success_rate"] < 0.5 and not uses_inception(args):
            print("  (a limit of 3/255 is Hvass's for 299x299 photos; small low-resolution images need more: "
                  "try --noise-limit 90, the 0.35 of Hvass #12)")
    if "fgsm" in metrics:
        print("FGSM: " + ", ".join(f"eps {r['epsilon']:g}: {100 * r['accuracy']:.1f}%" for r in metrics["fgsm"]["curve"]))
    print(f"outputs in {output_dir}")


if __name__ == "__main__":
    main()
