#!/usr/bin/env python
"""CIFAR-10 CNN: the cookbook's advanced CNN (ch. 8), Hvass-Labs #06 and the Keras notebook's CNN.

  python recipes/cifar10_cnn.py --dataset synthetic --steps 50         # quick, offline
  python recipes/cifar10_cnn.py --dataset cifar10 --download           # the book's 20000 steps
  python recipes/cifar10_cnn.py --model hvass --pipeline dataset       # Hvass #06 on tf.data
  python recipes/cifar10_cnn.py --model keras-style --epochs 10        # the Keras notebook
  python recipes/cifar10_cnn.py --num-devices 2                        # one tower per device
  python recipes/local_cluster.py --workers 2 -- recipes/cifar10_cnn.py --dataset synthetic   # 1 ps + 2 workers

Writes metrics.json (test accuracy over every test image, per-class accuracy), history.json,
plots (loss, accuracy, confusion matrix, test predictions, misclassified), checkpoints/ and
tensorboard/ (train/ and eval/ runs: tensorboard --logdir runs/cifar10_cnn/tensorboard) into
--output-dir.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402


def parse_args(argv):
    from cnn_cookbook.paths import data_root

    p = cli.parser(__doc__)
    p.add_argument("--model", choices=("cookbook", "hvass", "keras-style"), default="cookbook",
                   help="network and its tutorial's defaults: cookbook (ch. 8), hvass (Hvass #06), "
                        "keras-style (the Keras CIFAR-10 notebook)")
    p.add_argument("--pipeline", choices=("queue", "dataset"), default="queue",
                   help="input: the cookbook's queue runners, or tf.data")
    p.add_argument("--num-devices", type=cli.positive(), default=1,
                   help="towers: one per GPU (or per logical CPU device without GPUs), gradients averaged")
    cli.add_data_args(p, ("auto", "cifar10", "synthetic"), data_dir=str(data_root()))
    cli.add_run_args(p, output_dir="runs/cifar10_cnn")
    cli.add_training_args(p, checkpoint_every=None)
    g = p.add_argument_group("hyperparameters (default: the chosen model's tutorial values)")
    g.add_argument("--steps", type=cli.positive(),
                   help="training steps: cookbook 20000, hvass 150000, keras-style --epochs x steps per epoch")
    g.add_argument("--epochs", type=cli.positive(), help="keras-style: 10 (used when --steps is not given)")
    g.add_argument("--batch-size", type=cli.positive(), help="cookbook 128, hvass 64, keras-style 32")
    g.add_argument("--learning-rate", type=cli.positive(float), help="cookbook 0.1 (SGD), hvass 1e-4 (Adam), "
                   "keras-style 5e-3 (Adamax)")
    g.add_argument("--lr-decay", type=cli.positive(float), help="rate multiplier per decay period: cookbook 0.9, "
                   "keras-style 0.9, hvass 1 (none)")
    g.add_argument("--lr-decay-steps", type=cli.positive(), help="decay period in steps: cookbook 250, "
                   "keras-style one epoch")
    g.add_argument("--eval-every", type=cli.positive(), help="steps between whole-test-set evaluations: "
                   "cookbook 500, hvass 1000, keras-style one epoch")
    g.add_argument("--shuffle-buffer", type=cli.positive(), help="min_after_dequeue / tf.data shuffle buffer: 5000")
    g.add_argument("--reader-threads", type=cli.positive(), help="queue pipeline reader threads: 1")
    cli.add_classifier_run_args(p, "after training, write the classifier as a SavedModel (serving_default "
                                   "signature, images 0..1 of any size, centrally cropped)")
    return p.parse_args(argv)


@cli.main_wrapper
def main(argv=None):
    cli.start_training(parse_args(argv), train, report, cluster_flags=True)


def train(args, output_dir, task):
    # imported here, once the flags have set TensorFlow's environment (--log-device-placement)
    from cnn_cookbook.cifar10_cnn import train_cifar10
    from cnn_cookbook.datasets.cifar10 import find_cifar10

    batches_dir, dataset = find_cifar10(args.dataset, args.data_dir, download=args.download)
    print(f"dataset: {dataset} ({batches_dir})")
    return train_cifar10(batches_dir, args.model, output_dir, pipeline=args.pipeline,
                         num_devices=args.num_devices, seed=args.seed, device=args.device,
                         resume=args.resume, progress=not args.no_progress, dataset=dataset,
                         steps=args.steps, epochs=args.epochs, batch_size=args.batch_size,
                         learning_rate=args.learning_rate, lr_decay=args.lr_decay,
                         lr_decay_steps=args.lr_decay_steps, eval_every=args.eval_every,
                         checkpoint_every=args.checkpoint_every, shuffle_buffer=args.shuffle_buffer,
                         reader_threads=args.reader_threads, summaries_dir=args.summaries_dir,
                         histogram_every=args.histograms_every, cluster=task)


def report(args, output_dir, run):
    m = cli.save_classifier_run(run, output_dir, args.export_savedmodel, args.device, args.show)
    # no rate when nothing was trained (--resume of a finished run)
    rate = f"{m['images_per_second']:.0f} images/s" if m["images_per_second"] else "no steps run"
    print(f"test accuracy {100 * m['test_accuracy']:.2f}% on all {m['test_examples']} {m['dataset']} test "
          f"images after {m['steps']} steps ({rate}, "
          f"{m['pipeline']} pipeline, {m['num_devices']} device(s)); outputs in {output_dir}")


if __name__ == "__main__":
    main()
