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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402
from cnn_cookbook.errors import CookbookError  # noqa: E402

DEFAULT_LAYER = "mixed4d_3x3_bottleneck_pre_relu"
DEFAULT_CHANNEL = 30  # the cookbook's choice (the TensorFlow notebook uses 139)


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


def renderer_settings(args):
    """Keyword arguments for the chosen renderer: only the flags the user gave."""
    settings = {}
    if args.steps:
        settings["steps"] = args.steps
    if args.step_size:
        settings["step_size"] = args.step_size
    if args.renderer == "recursive":
        if args.octaves:
            settings["repeats"] = args.octaves - 1
        if args.octave_scale:
            settings["rescale_factor"] = 1.0 / args.octave_scale
    elif args.renderer != "naive":
        if args.octaves:
            settings["octaves"] = args.octaves
        if args.octave_scale:
            settings["octave_scale"] = args.octave_scale
    if args.tile_size and args.renderer != "naive":
        settings["tile_size"] = args.tile_size
    return settings


def shown_image(image, spec):
    """0..255: images dreamt from noise are shown standardised, as the notebook shows them."""
    import numpy as np

    from cnn_cookbook.deepdream import visstd

    return visstd(image) if spec == "noise" else np.clip(image, 0, 255)


def parse_channels(values, renderer):
    if not values:
        return [None if renderer == "recursive" else DEFAULT_CHANNEL]
    try:
        return [None if v == "all" else int(v) for v in values]
    except ValueError:
        raise CookbookError(f"--channel takes a number or 'all', not {values}") from None


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    import numpy as np

    from cnn_cookbook import deepdream, progress, summaries
    from cnn_cookbook.fileio import ensure_dir, save_image
    from cnn_cookbook.nets import inception5h
    from cnn_cookbook.tf1 import new_session, seed_everything, tf

    graph_path, _ = inception5h.locate_inception5h(args.weights, args.graph, download_missing=args.download)
    graph = tf.Graph()
    with graph.as_default():
        network = inception5h.load_inception5h(graph_path)
        tag = f" [{inception5h.STAND_IN_LABEL}]" if network.stand_in else ""
        if network.stand_in:
            print(f"using the {inception5h.STAND_IN_LABEL} graph {graph_path}: the code path of the "
                  "chapter, not its pictures (--download fetches inception5h)")
        if args.list_layers:
            layers = network.describe_layers()
            for name, channels in layers:
                print(f"{name:50s} {channels:5d}")
            print(f"{len(layers)} layers, {sum(c for _, c in layers)} channels")
            return 0
        layers = args.layer or [DEFAULT_LAYER]
        score, description = deepdream.combined_objective(network, layers, parse_channels(args.channel, args.renderer))
        rng = seed_everything(args.seed)
        image, note = deepdream.start_image(args.image, args.max_size, rng=rng)
        if note:
            print(f"note: {note}")
        output_dir = ensure_dir(args.output_dir)
        with new_session(graph, args.device) as session:
            dreamer = deepdream.Dreamer(session, network)
            objective = dreamer.objective(score, description)
            settings = renderer_settings(args)
            render = deepdream.RENDERERS[args.renderer]
            kwargs = dict(settings) if args.renderer == "naive" else dict(settings, rng=rng)
            print(f"{args.renderer}: maximising {description} on a {image.shape[1]}x{image.shape[0]} image{tag}")
            total = deepdream.total_steps(args.renderer, settings)
            started = time.perf_counter()
            with summaries.RunWriters(cli.summaries_dir(args), graph) as writers, \
                    progress.bar(total=total, desc="dream", unit="step", enabled=not args.no_progress) as bar:
                writers.images("train", "input", shown_image(image, args.image), 0)
                done = []

                def report(octave, step, value):
                    done.append(value)
                    writers.scalars("train", len(done), {"objective": value})
                    bar.set_postfix(octave=octave, objective=f"{value:.4f}", refresh=False)
                    bar.update(1)

                result = render(dreamer, objective, image, **kwargs, callback=report)
                writers.images("train", "dream", shown_image(result.image, args.image), len(done))
            seconds = time.perf_counter() - started
            for octave in sorted({o for o, _, _ in result.scores}):
                last = [v for o, _, v in result.scores if o == octave][-1]
                print(f"octave {octave}: objective {last:.4f} after {sum(o == octave for o, _, _ in result.scores)} steps")
            session_seconds = dreamer.session_seconds
            # the whole image at once up to 1024 px: values comparable between renderers and tile sizes
            tile = max(1024, settings.get("tile_size", 512))
            before = dreamer.score(objective, image, tile)
            after = dreamer.score(objective, result.image, tile)
    save_image(output_dir / "input.png", shown_image(image, args.image))
    save_image(output_dir / "dream.png", shown_image(result.image, args.image))
    metrics = {
        "renderer": args.renderer, "objective": description, "graph": str(graph_path),
        "network": network.name, "stand_in": network.stand_in,
        "image": args.image, "image_size": list(image.shape[:2]), "dream_size": list(result.image.shape[:2]),
        "settings": settings, "seed": args.seed,
        "objective_before": before, "objective_after": after,
        "scores": [{"octave": o, "step": s, "value": v} for o, s, v in result.scores],
        "seconds": seconds, "session_run_seconds": session_seconds,
    }
    cli.write_outputs(output_dir, metrics, show=args.show, figures={
        "scores": deepdream.scores_figure(result.scores, f"{description} ({args.renderer}){tag}")})
    print(f"objective {before:.4f} -> {after:.4f} in {seconds:.1f} s; outputs in {output_dir}{tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
