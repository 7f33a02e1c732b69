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


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    from cnn_cookbook import adversarial as adv
    from cnn_cookbook.errors import CookbookError
    from cnn_cookbook.run_folder import claim

    try:
        epsilons = tuple(float(e) for e in args.epsilons.split(",") if e.strip())
    except ValueError:
        raise CookbookError(f"--epsilons must be numbers separated by commas, not {args.epsilons!r}") from None
    if any(e < 0 for e in epsilons):
        raise CookbookError(f"--epsilons must be >= 0, got {args.epsilons}")
    source = adv.ClassifierSource(args.model, args.checkpoint_dir, args.dataset, args.data_dir, args.graph,
                                  args.models_dir, args.image, args.download, args.count, args.fgsm_count)
    settings = adv.ImageAttackSettings(args.target, args.noise_limit, args.step_size, args.required_score,
                                       args.steps, epsilons, args.attack != "fgsm", args.attack != "targeted")
    with claim(args.output_dir) as output_dir:  # held until the outputs are written
        run = adv.attack_images(source, settings, output_dir=output_dir, seed=args.seed, device=args.device,
                                progress=not args.no_progress, summaries_dir=cli.summaries_dir(args))
        cli.write_outputs(output_dir, run.metrics, figures=run.figures, show=args.show)
    metrics = run.metrics
    print(f"classifier: {run.outputs['classifier']}")
    if "targeted" in metrics:
        t = metrics["targeted"]
        print(f"targeted towards {run.outputs['target_name']}: {100 * t['success_rate']:.1f}% of {t['images']} "
              f"image(s) now classified as the target (mean target score {100 * t['mean_target_score']:.2f}%, "
              f"{t['mean_steps']:.1f} steps, |noise| <= {t['max_abs_noise_0_255']:.2f} of 255)")
        if t["success_rate"] < 0.5 and not run.outputs["inception"]:
            print("  (a limit of 3/255 is Hvass's for 299x299 photos; small low-resolution images need more: "
                  "try --noise-limit 90, the 0.35 of Hvass #12)")
    if "fgsm" in metrics:
        print("FGSM: " + ", ".join(f"eps {r['epsilon']:g}: {100 * r['accuracy']:.1f}%" for r in metrics["fgsm"]["curve"]))
    print(f"outputs in {output_dir}")


if __name__ == "__main__":
    main()
