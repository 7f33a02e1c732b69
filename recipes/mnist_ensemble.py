#!/usr/bin/env python
"""Hvass-Labs #05: an ensemble of 5 MNIST CNNs, each trained on a random 80% of train+validation.

  python recipes/mnist_ensemble.py --dataset synthetic          # offline, the tutorial's settings
  python recipes/mnist_ensemble.py --dataset mnist --download   # real MNIST (the tutorial: 99.1% vs 98.9%)
  python recipes/mnist_ensemble.py --evaluate-only              # re-analyse the trained networks

The ensemble's prediction is the mean of the networks' softmax outputs.  Writes metrics.json
(every network's validation accuracy on its held-out 20%, test accuracy on the whole test set,
and the ensemble's), PNG plots, and network<i>/checkpoints/ and network<i>/tensorboard/ into
--output-dir (tensorboard --logdir runs/mnist_ensemble shows every network's train/ and eval/).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402


def parse_args(argv):
    p = cli.parser(__doc__)
    p.add_argument("--networks", dest="num_networks", type=cli.positive(), default=5, help="networks in the ensemble")
    p.add_argument("--train-fraction", type=cli.real(above=0, below=1), default=0.8,
                   help="share of train+validation each network trains on; the rest is its validation set")
    p.add_argument("--model", choices=("hvass-cnn", "cookbook", "linear"), default="hvass-cnn",
                   help="network of every member (Hvass #05: hvass-cnn, Adam 1e-4, batch 64)")
    cli.add_data_args(p, ("auto", "mnist", "fashion", "synthetic", "idx"), data_dir=None)
    cli.add_run_args(p, output_dir="runs/mnist_ensemble", steps=None)
    cli.add_training_args(p, checkpoint_every=1000)
    p.add_argument("--steps", type=cli.positive(), help="training steps per network (hvass-cnn: 10000)")
    p.add_argument("--batch-size", type=cli.positive(), help="hvass-cnn: 64")
    p.add_argument("--learning-rate", type=cli.positive(float), help="hvass-cnn: 1e-4")
    p.add_argument("--evaluate-only", action="store_true",
                   help="do not train; evaluate the networks already in --output-dir")
    cli.add_summary_args(p)
    cli.add_tf1_aliases(p)
    return p.parse_args(argv)


@cli.main_wrapper
def main(argv=None):
    cli.start_training(parse_args(argv), train, report)


def train(args, output_dir, task=None):
    # imported here, once the flags have set TensorFlow's environment (--log-device-placement)
    from cnn_cookbook.datasets.mnist import load_mnist
    from cnn_cookbook.ensemble import train_ensemble

    data = load_mnist(args.dataset, args.data_dir, download=args.dataset != "synthetic" or args.download,
                      validation_size=args.validation_size, progress=not args.no_progress)
    print(f"dataset: {data.name} ({len(data.train) + len(data.validation)} train+validation, "
          f"{len(data.test)} test images)")
    return train_ensemble(data, args.num_networks, args.model, output_dir, seed=args.seed, device=args.device,
                          train_fraction=args.train_fraction, resume=args.resume, train=not args.evaluate_only,
                          checkpoint_every=args.checkpoint_every, progress=not args.no_progress,
                          steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                          summaries_dir=args.summaries_dir, histogram_every=args.histograms_every)


def report(args, output_dir, run):
    cli.write_outputs(output_dir, run.metrics, figures=run.figures, show=args.show)
    m = run.metrics
    for net in m["networks"]:
        print(f"network {net['network']}: validation {100 * net['validation_accuracy']:.2f}% "
              f"(its {net['validation_examples']} held-out images), test {100 * net['test_accuracy']:.2f}%")
    print(f"ensemble test accuracy {100 * m['ensemble_test_accuracy']:.2f}% vs best network "
          f"{100 * m['best_network_test_accuracy']:.2f}% on all {m['test_examples']} test images; "
          f"ensemble better on {m['ensemble_better_count']}, best network better on "
          f"{m['best_network_better_count']}; outputs in {output_dir}")


if __name__ == "__main__":
    main()
