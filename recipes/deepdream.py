#!/usr/bin/env python
"""DeepDream on inception5h (TensorFlow Machine Learning Cookbook ch. 8, Hvass-Labs #14).

  python recipes/deepdream.py --download                        # fetch inception5h.zip once
  python recipes/deepdream.py                                   # the cookbook: layer
                                                                #   mixed4d_3x3_bottleneck_pre_relu, channel 30
  python recipes/deepdream.py --renderer lapnorm --image noise --channel 139
  python recipes/deepdream.py --renderer recursive --layer conv2d2_pre_relu   # Hvass #14
  python recipes/deepdream.py --list-layers

Writes input.png, dream.png, scores.png, metrics.json (the objective before and after) and
tensorboard/ (train/: the objective per step, the input and the dream) into --output-dir.
Without inception5h (and without --download) it runs on a generated STAND-IN with inception5h's
layer names and random weights, and says so in every output; --weights real insists on the real
graph.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402
from cnn_cookbook.errors import CookbookError  # noqa: E402

# cnn_cookbook.deepdream's defaults, for the help text (it imports TensorFlow, so only after parsing)
DEFAULT_LAYER = "mixed4d_3x3_bottleneck_pre_relu"
DEFAULT_CHANNEL = 30  # the cookbook's channel (the TensorFlow notebook uses 139)


def parse_args(argv):
    p = cli.parser(__doc__)
    p.add_argument("--graph", help="a frozen inception5h-style GraphDef (default: "
                   "models/inception5h/tensorflow_inception_graph.pb, from inception5h.zip)")
    p.add_argument("--download", action="store_true", help="download inception5h.zip if it is missing")
    p.add_argument("--weights", choices=("auto", "real", "stand-in"), default="auto",
                   help="auto = inception5h if present (or --download), else the generated STAND-IN "
                        "(inception5h's layers, random weights: for trying the code offline)")
    p.add_argument("--image", default="astronaut",
                   help="start image: a file, 'noise' (grey noise) or a photograph bundled with "
                        "scikit-image (astronaut, chelsea, coffee, rocket, immunohistochemistry, hubble_deep_field)")
    p.add_argument("--max-size", type=cli.positive(), default=1024, help="shrink larger images to this side")
    p.add_argument("--layer", action="append", help=f"layer to maximise, repeatable (the objectives add up); "
                   f"default {DEFAULT_LAYER}")
    p.add_argument("--channel", action="append",
                   help=f"channel of the layer (one, or one per --layer); 'all': the mean square of the "
                        f"whole layer; default {DEFAULT_CHANNEL}, or 'all' for --renderer recursive")
    p.add_argument("--renderer", choices=("naive", "multiscale", "lapnorm", "deepdream", "recursive"),
                   default="deepdream", help="naive, multiscale and lapnorm: the TensorFlow notebook's steps; "
                                             "deepdream: the notebook's and the cookbook's; recursive: Hvass #14")
    g = p.add_argument_group("renderer settings (default: the chosen renderer's published values)")
    g.add_argument("--steps", type=cli.positive(), help="steps per octave: naive 20, recursive 10, others 10")
    g.add_argument("--step-size", type=cli.positive(float), help="deepdream 1.5, recursive 3.0, others 1.0")
    g.add_argument("--octaves", type=cli.positive(), help="multiscale/lapnorm 3, deepdream 4; recursive: "
                   "levels = down-scalings + 1 (5)")
    g.add_argument("--octave-scale", type=cli.positive(float),
                   help="1.4; recursive: 1/0.7 (the image shrinks by 0.7 per level)")
    g.add_argument("--tile-size", type=cli.positive(), help="gradient tile side: 512, recursive 400")
    p.add_argument("--list-layers", action="store_true", help="print the layers and their channels, then stop")
    cli.add_run_args(p, output_dir="runs/deepdream")
    cli.add_summary_args(p, histograms=False)
    return p.parse_args(argv)


def parse_channels(values):
    """--channel values: numbers, or 'all' (None: the whole layer's mean square)."""
    try:
        return [None if v == "all" else int(v) for v in values] if values else None
    except ValueError:
        raise CookbookError(f"--channel takes a number or 'all', not {values}") from None


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    from cnn_cookbook import deepdream
    from cnn_cookbook.nets import inception5h
    from cnn_cookbook.run_folder import claim

    graph_path, _ = inception5h.locate_inception5h(args.weights, args.graph, download_missing=args.download)
    if args.list_layers:
        layers = deepdream.list_layers(graph_path)
        for name, channels in layers:
            print(f"{name:50s} {channels:5d}")
        print(f"{len(layers)} layers, {sum(c for _, c in layers)} channels")
        return 0
    settings = deepdream.DreamSettings(renderer=args.renderer, steps=args.steps, step_size=args.step_size,
                                       octaves=args.octaves, octave_scale=args.octave_scale, tile_size=args.tile_size)
    with claim(args.output_dir) as output_dir:  # held until the outputs are written
        run = deepdream.dream(graph_path, layers=args.layer, channels=parse_channels(args.channel),
                              image=args.image, max_size=args.max_size, settings=settings, seed=args.seed,
                              device=args.device, output_dir=output_dir, summaries_dir=args.summaries_dir,
                              progress=not args.no_progress)
        cli.write_outputs(output_dir, run.metrics, figures=run.figures, show=args.show)
    m = run.metrics
    print(f"objective {m['objective_before']:.4f} -> {m['objective_after']:.4f} in {m['seconds']:.1f} s; "
          f"outputs in {output_dir}{run.outputs['tag']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
