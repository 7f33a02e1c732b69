#!/usr/bin/env python
"""Hvass-Labs #12: one adversarial noise image for all of MNIST, and immunity to it.

  python recipes/adversarial_noise.py --dataset synthetic          # offline, the tutorial's settings
  python recipes/adversarial_noise.py --dataset mnist --download   # real MNIST (Hvass #12: 13.2% under attack)
  python recipes/adversarial_noise.py --checkpoint-dir runs/mnist_cnn/checkpoints   # attack a trained network

A noise variable is added to every input (clipped to 0..1).  An adversarial Adam optimiser
changes only the noise, so that training images are classified as --target (loss: cross-entropy
towards the target + 0.02 * L2 of the noise, noise clipped to +-0.35 after every step).  Then the
noise for each of the ten classes, and immunity rounds (adversarial steps, then normal training
with that noise in place).  Writes metrics.json (clean and noisy test accuracy before and after),
noise.npz, PNG plots and tensorboard/ (train/ and adversary/ losses over the whole experiment,
eval/ accuracies and the noise images) into --output-dir.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402


def parse_args(argv):
    p = cli.parser(__doc__)
    cli.add_data_args(p, ("auto", "mnist", "fashion", "synthetic", "idx"), data_dir=None)
    cli.add_run_args(p, output_dir="runs/adversarial_noise", steps=1000)
    p.add_argument("--checkpoint-dir", help="restore the network from this checkpoints folder of the MNIST "
                                            "recipe instead of training it (--steps is then unused)")
    p.add_argument("--target", type=cli.integer(0, 9), default=3, help="class the single noise image aims for")
    p.add_argument("--target-steps", type=cli.positive(), default=1000, help="adversarial steps for --target")
    p.add_argument("--all-steps", type=cli.positive(), default=300, help="adversarial steps for each class")
    p.add_argument("--immunity-adversary-steps", type=cli.positive(), default=500,
                   help="adversarial steps at the start of each immunity round")
    p.add_argument("--immunity-steps", type=cli.integer(0), default=200, help="normal steps with the noise in place")
    p.add_argument("--immunity-repeats", type=cli.integer(0), default=2, help="immunity rounds per class (0: none)")
    p.add_argument("--immunity-targets", default="0,1,2,3,4,5,6,7,8,9", help="classes of the immunity rounds")
    p.add_argument("--noise-limit", type=cli.positive(float), default=0.35, help="max |noise| (pixels are 0..1)")
    p.add_argument("--noise-l2-weight", type=cli.real(minimum=0), default=0.02, help="weight of the noise's L2 loss")
    p.add_argument("--adversary-learning-rate", type=cli.positive(float), default=1e-2,
                   help="Adam rate of the optimiser that changes only the noise")
    p.add_argument("--learning-rate", type=cli.positive(float), default=1e-4, help="normal Adam optimiser")
    p.add_argument("--batch-size", type=cli.positive(), default=64, help="images per step")
    cli.add_summary_args(p, histograms=False)
    cli.add_tf1_aliases(p)
    cli.alias(p, "--checkpoint-dir", "--checkpoint")
    # bars are on by default now; the earlier opt-in spelling is still accepted
    p.add_argument("--progress", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    cli.apply_log_device_placement(args)
    from cnn_cookbook.adversarial import NoiseSettings, universal_noise_experiment
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.errors import CookbookError
    from cnn_cookbook.run_folder import claim

    try:
        targets = tuple(int(t) for t in args.immunity_targets.split(",") if t.strip())
    except ValueError:
        raise CookbookError(f"--immunity-targets must be class numbers separated by commas, "
                            f"not {args.immunity_targets!r}") from None
    if args.steps <= 0 and args.checkpoint_dir is None:
        raise CookbookError("--steps must be > 0 (or give --checkpoint-dir to start from a trained network)")
    settings = NoiseSettings(learning_rate=args.learning_rate, batch_size=args.batch_size, steps=args.steps,
                             noise_limit=args.noise_limit, noise_l2_weight=args.noise_l2_weight,
                             adversary_learning_rate=args.adversary_learning_rate, target=args.target,
                             target_steps=args.target_steps, all_steps=args.all_steps,
                             immunity_adversary_steps=args.immunity_adversary_steps,
                             immunity_steps=args.immunity_steps, immunity_repeats=args.immunity_repeats,
                             immunity_targets=targets)
    with claim(args.output_dir) as output_dir:  # held until the outputs are written
        data = load_mnist(args.dataset, args.data_dir, download=args.dataset != "synthetic" or args.download,
                          validation_size=args.validation_size, progress=not args.no_progress)
        print(f"dataset: {data.name} ({len(data.train)} train, {len(data.test)} test images)")
        run = universal_noise_experiment(data, settings, output_dir=output_dir, seed=args.seed, device=args.device,
                                         checkpoint=args.checkpoint_dir, progress=not args.no_progress,
                                         summaries_dir=cli.summaries_dir(args))
        cli.write_outputs(output_dir, run.metrics, figures=run.figures, show=args.show)
    m = run.metrics
    print(f"before immunity: clean {100 * m['clean_accuracy_before']:.2f}%, with the noise for "
          f"{m['target']} {100 * m['noisy_accuracy_target']:.2f}%, mean over the ten class noises "
          f"{100 * m['noisy_accuracy_before']:.2f}%")
    print(f"after immunity: clean {100 * m['clean_accuracy_after']:.2f}%, the same ten noises "
          f"{100 * m['noisy_accuracy_after']:.2f}%, a fresh attack towards {m['target']} "
          f"{100 * m['fresh_attack_accuracy_after']:.2f}%; outputs in {output_dir}")


if __name__ == "__main__":
    main()
