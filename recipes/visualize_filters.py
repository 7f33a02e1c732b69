#!/usr/bin/env python
"""Look inside a network: maximum-stimulus images of conv filters (the Keras CIFAR-10 tutorial) and activation
maximisation of a channel or a class (Hvass-Labs #13).

  python recipes/mnist_cnn.py --dataset synthetic --steps 200        # train something first
  python recipes/visualize_filters.py                                # its conv filters, offline
  python recipes/visualize_filters.py --checkpoint-dir runs/cifar10_cnn/checkpoints --layer conv2
  python recipes/visualize_filters.py --class 3                      # ascend until the net says "3" (99%)
  python recipes/visualize_filters.py --model inception5h --layer mixed4a_pre_relu
  python recipes/visualize_filters.py --model inception_v3 --class 1 --steps 100   # Hvass #13

Writes one PNG grid per layer (or one PNG per --class / --channel), metrics.json with the
objective before and after the ascent, and tensorboard/ (train/: the images, and the objective per
step of each --class / --channel ascent) into --output-dir.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402


def parse_args(argv):
    p = cli.parser(__doc__)
    p.add_argument("--model", choices=("checkpoint", "inception5h", "inception_v3"), default="checkpoint",
                   type=cli.spellings(**{"inception-v3": "inception_v3"}),
                   help="checkpoint: a network trained by the MNIST/CIFAR recipes (--checkpoint-dir)")
    p.add_argument("--checkpoint-dir", default="runs/mnist_cnn/checkpoints",
                   help="checkpoints folder with network.json, written by a cnn_cookbook recipe")
    p.add_argument("--graph", help="frozen graph for --model inception5h|inception_v3 (default: "
                   "models/inception5h/... or models/inception/classify_image_graph_def.pb)")
    p.add_argument("--download", action="store_true", help="download the frozen graph if it is missing")
    p.add_argument("--layer", action="append", help="layer(s) to visualise, repeatable (default: every conv "
                   "layer of a checkpoint network; mixed4d_3x3_bottleneck_pre_relu; conv_4/Conv2D)")
    p.add_argument("--filters", type=cli.positive(), default=16, help="filters per layer (the Keras tutorial: 2 rows of 8)")
    p.add_argument("--first-filter", type=cli.integer(0), default=0, help="index of the first filter shown")
    p.add_argument("--channel", type=cli.integer(0), help="instead of the grid: maximise this channel of --layer (Hvass #13)")
    p.add_argument("--class", dest="class_id", type=cli.integer(0), action="append",
                   help="instead of the grid: maximise this class's logit (Hvass #13), repeatable")
    p.add_argument("--steps", type=cli.positive(), help="ascent steps: 20 for the grid (the Keras tutorial), 30 for "
                   "--channel (Hvass #13); for --class the limit (200), reached only below --threshold")
    p.add_argument("--threshold", type=cli.real(above=0, maximum=1), default=0.99,
                   help="--class: stop once the network gives the class this probability (0..1)")
    p.add_argument("--step-size", type=cli.positive(float), default=1.0,
                   help="grid: step along the L2-normalised gradient in units of the pixel range; "
                        "Hvass: step of g/std(g) in units of 1/255 of the range")
    p.add_argument("--image-size", type=cli.positive(), default=128,
                   help="side of the images for networks that take any size (inception5h)")
    p.add_argument("--list-layers", action="store_true", help="print the layers and their channels, then stop")
    cli.add_run_args(p, output_dir="runs/visualize_filters")
    cli.add_summary_args(p, histograms=False)
    cli.alias(p, "--model", "--network")
    cli.alias(p, "--checkpoint-dir", "--checkpoint")
    return p.parse_args(argv)


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    from cnn_cookbook import visualize
    from cnn_cookbook.run_folder import claim

    network = dict(model=args.model, checkpoint_dir=args.checkpoint_dir, graph_path=args.graph,
                   download=args.download)
    if args.list_layers:
        for name, channels in visualize.list_layers(**network):
            print(f"{name:50s} {channels:5d}")
        return 0
    with claim(args.output_dir) as output_dir:  # held until the outputs are written
        run = visualize.visualize_filters(
            **network, layers=args.layer, filters=args.filters, first_filter=args.first_filter,
            channel=args.channel, class_ids=args.class_id, steps=args.steps, threshold=args.threshold,
            step_size=args.step_size, image_size=args.image_size, seed=args.seed, device=args.device,
            output_dir=output_dir, summaries_dir=args.summaries_dir, progress=not args.no_progress)
        cli.write_outputs(output_dir, run.metrics, figures=run.figures, show=args.show)
    print(f"outputs in {output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
