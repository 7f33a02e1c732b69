#!/usr/bin/env python
"""MNIST CNN (TensorFlow Machine Learning Cookbook ch. 8) and Hvass-Labs #01, #02, #04.

  python recipes/mnist_cnn.py --dataset synthetic            # the book's recipe, offline
  python recipes/mnist_cnn.py --dataset mnist                # real MNIST (downloaded if absent)
  python recipes/mnist_cnn.py --model linear                 # Hvass #01
  python recipes/mnist_cnn.py --model hvass-cnn              # Hvass #02
  python recipes/mnist_cnn.py --model hvass-cnn --early-stopping   # Hvass #04
  python recipes/mnist_cnn.py --model hvass-chain            # Hvass #03: #02 in the chained style
  python recipes/local_cluster.py --ps 1 --workers 2 -- recipes/mnist_cnn.py   # 1 ps + 2 workers

Writes metrics.json, PNG plots, checkpoints/ and tensorboard/ (train/ and eval/ runs:
tensorboard --logdir runs/mnist_cnn/tensorboard) into --output-dir.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402


def parse_args(argv):
    p = cli.parser(__doc__)
    p.add_argument("--model", choices=("cookbook", "linear", "hvass-cnn", "hvass-chain"), default="cookbook",
                   help="network and its tutorial's defaults: cookbook (ch. 8), linear (Hvass #01), "
                        "hvass-cnn (Hvass #02/#04), hvass-chain (the same net chained as in Hvass #03)")
    cli.add_data_args(p, ("auto", "mnist", "fashion", "synthetic", "idx"), data_dir=None)
    cli.add_run_args(p, output_dir="runs/mnist_cnn", steps=None)
    cli.add_training_args(p, checkpoint_every=100)
    g = p.add_argument_group("hyperparameters (default: the chosen model's tutorial values)")
    g.add_argument("--batch-size", type=cli.positive(), help="cookbook 100, linear 100, hvass-cnn 64")
    g.add_argument("--learning-rate", type=cli.positive(float), help="cookbook 0.005, linear 0.5, hvass-cnn 1e-4")
    g.add_argument("--momentum", type=cli.real(minimum=0, maximum=1), help="cookbook's Momentum optimiser: 0.9")
    g.add_argument("--eval-every", type=cli.positive(), help="steps between evaluations: cookbook 5, others 100")
    g.add_argument("--eval-size", type=cli.positive(), help="random test images per evaluation: cookbook 500")
    g.add_argument("--early-stopping", action="store_true",
                   help="Hvass #04: keep the best validation checkpoint, stop after --patience steps without gain")
    g.add_argument("--patience", type=cli.positive(), help="early stopping patience in steps: 1000")
    p.add_argument("--steps", type=cli.positive(), help="training steps: cookbook 500, linear 1000, hvass-cnn 10000")
    cli.add_classifier_run_args(p, "after training, write the classifier as a SavedModel (serving_default "
                                   "signature)")
    return p.parse_args(argv)


@cli.main_wrapper
def main(argv=None):
    cli.start_training(parse_args(argv), train, report, cluster_flags=True)


def train(args, output_dir, task):
    # imported here, once the flags have set TensorFlow's environment (--log-device-placement)
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.mnist_cnn import train_mnist

    data = load_mnist(args.dataset, args.data_dir, download=args.dataset != "synthetic" or args.download,
                      validation_size=args.validation_size, progress=not args.no_progress)
    print(f"dataset: {data.name} ({len(data.train)} train, {len(data.validation)} validation, "
          f"{len(data.test)} test images)")
    return train_mnist(data, args.model, output_dir, seed=args.seed, device=args.device, resume=args.resume,
                       early_stopping=args.early_stopping, checkpoint_every=args.checkpoint_every,
                       progress=not args.no_progress, steps=args.steps, batch_size=args.batch_size,
                       learning_rate=args.learning_rate, momentum=args.momentum, eval_every=args.eval_every,
                       eval_size=args.eval_size, patience=args.patience, summaries_dir=args.summaries_dir,
                       histogram_every=args.histograms_every, cluster=task)


def report(args, output_dir, run):
    m = cli.save_classifier_run(run, output_dir, args.export_savedmodel, args.device, args.show)
    speed = f"{m['images_per_second']:.0f} images/s" if m["images_per_second"] else "no steps run"
    kept = m.get("weights_step", m["steps"])
    weights = (f"with the best weights, of step {kept} (stopped at step {m['steps']})" if kept != m["steps"]
               else f"after {m['steps']} steps")
    print(f"test accuracy {100 * m['test_accuracy']:.2f}% on all {m['test_examples']} {m['dataset']} test "
          f"images {weights} ({speed}); outputs in {output_dir}")


if __name__ == "__main__":
    main()
