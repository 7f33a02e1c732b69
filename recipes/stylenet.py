#!/usr/bin/env python
"""Neural style transfer: the cookbook's StyleNet (VGG-19) and Hvass-Labs #15 (VGG-16).

  python recipes/stylenet.py --download                # fetch imagenet-vgg-verydeep-19.mat once
  python recipes/stylenet.py                           # astronaut in the style of the
                                                       #   immunohistochemistry photograph
  python recipes/stylenet.py --content me.jpg --style starry.jpg wave.jpg --style-blend 3 1
  python recipes/stylenet.py --optimizer lbfgs --init content --preserve-colors --steps 300
  python recipes/stylenet.py --model vgg16 --download   # Hvass #15 (vgg16.tfmodel)
  python recipes/stylenet.py --content me.jpg --styles wave.jpg --output me_wave.png --iterations 500
                                                       #   neural-style's own flags work too

Writes stylized.png (or --output), step_NNNN.png every --checkpoint-every steps, losses.png,
metrics.json and tensorboard/ (train/: the loss terms per step and the image at each checkpoint)
into --output-dir.  Without models/imagenet-vgg-verydeep-19.mat (and without --download) the
VGG-19 run uses a generated STAND-IN with VGG-19's layers and random weights, and says so in its
output; --weights real insists on the real file.
--content/--style take image files or the names of photographs bundled with scikit-image.
"""

import argparse

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402
from cnn_cookbook.errors import CookbookError, TrainingDiverged  # noqa: E402

NETWORK_FILES = {"vgg19": "vgg19", "vgg16": "vgg16_tfmodel"}
STAND_IN = "STAND-IN (random weights)"


def parse_args(argv):
    p = cli.parser(__doc__)
    p.add_argument("--model", choices=("vgg19", "vgg16"), default="vgg19",
                   help="vgg19: the cookbook's StyleNet; vgg16: Hvass #15 (its layers, weights, loss "
                        "normalisation and step rule)")
    p.add_argument("--vgg", help="the network file (default: models/imagenet-vgg-verydeep-19.mat, "
                                 "or models/vgg16.tfmodel with --model vgg16)")
    p.add_argument("--network", action=NetworkFlag, dest="vgg", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--download", action="store_true", help="download the network file if it is missing")
    p.add_argument("--weights", choices=("auto", "real", "stand-in"), default="auto",
                   help="vgg19 only: auto = the real file if present (or --download), else the generated "
                        "STAND-IN (VGG-19's layers, random weights: for trying the code offline)")
    p.add_argument("--content", default="astronaut", help="content image: a file or a bundled photograph")
    p.add_argument("--style", nargs="+", default=["immunohistochemistry"],
                   help="one or more style images (files or bundled photographs)")
    p.add_argument("--style-blend", nargs="+", type=cli.real(minimum=0),
                   help="one weight per style image (normalised to sum 1; default equal)")
    p.add_argument("--max-size", type=cli.positive(), default=512,
                   help="shrink images whose longer side is larger than this")
    p.add_argument("--width", type=cli.positive(), help="resize the content image to this width (aspect kept)")
    p.add_argument("--output", help="the stylized image (default: <output-dir>/stylized.png)")
    g = p.add_argument_group("optimisation (default: the chosen network's published values: "
                             "vgg19 = cookbook, vgg16 = Hvass #15)")
    g.add_argument("--steps", type=cli.positive(), help="steps (the book's 'generations'): 100 / 60")
    g.add_argument("--optimizer", choices=("adam", "lbfgs", "scaled-gd"),
                   help="adam / scaled-gd (Hvass: gradient / its std * step size, clipped)")
    g.add_argument("--learning-rate", type=cli.positive(float), help="Adam's rate or the scaled-gd step: 10 / 10")
    g.add_argument("--content-weight", type=cli.real(minimum=0), help="5.0 / 1.5")
    g.add_argument("--style-weight", type=cli.real(minimum=0), help="500.0 / 10.0")
    g.add_argument("--tv-weight", type=cli.real(minimum=0), help="total-variation weight: 100 / 0.3")
    g.add_argument("--init", help="start from noise (default), the content, or an image file")
    g.add_argument("--pooling", choices=("max", "avg"), help="max (default) or avg pooling in the network")
    g.add_argument("--preserve-colors", action="store_true",
                   help="luminance-only transfer: the result keeps the content's colours")
    p.add_argument("--checkpoint-every", type=cli.positive(),
                   help="write step_NNNN.png every N steps (default: the report interval, 25 / 10)")
    p.add_argument("--checkpoint-output", help="file name pattern of those images, with one %%-field for the "
                                               "step, as neural-style's (default: <output-dir>/step_%%04d.png)")
    cli.add_run_args(p, output_dir="runs/stylenet")
    cli.add_summary_args(p, histograms=False)
    # anishathalye/neural-style's flags, with its meanings (--network PATH is handled above)
    cli.alias(p, "--style", "--styles")
    cli.alias(p, "--style-blend", "--style-blend-weights")
    cli.alias(p, "--steps", "--iterations")
    cli.alias(p, "--checkpoint-every", "--checkpoint-iterations")
    cli.alias(p, "--init", "--initial")
    return p.parse_args(argv)


class NetworkFlag(argparse.Action):
    """neural-style's ``--network PATH`` (the VGG file, our --vgg); the earlier spelling
    ``--network vgg19|vgg16`` (our --model) still works."""

    def __call__(self, parser, namespace, value, option_string=None):
        setattr(namespace, "model" if value in NETWORK_FILES else "vgg", value)


def settings_from_args(args):
    from cnn_cookbook.stylenet import StyleSettings

    preset = StyleSettings.cookbook if args.model == "vgg19" else StyleSettings.hvass
    init = args.init if args.init in ("noise", "content") else None  # else a file: see main
    flags = {"steps": args.steps, "optimizer": args.optimizer, "learning_rate": args.learning_rate,
             "content_weight": args.content_weight, "style_weight": args.style_weight,
             "tv_weight": args.tv_weight, "init": init, "pooling": args.pooling,
             "preserve_colors": args.preserve_colors or None}
    return preset(**{name: value for name, value in flags.items() if value is not None})


def load_network(args):
    from cnn_cookbook.io.downloads import fetch
    from cnn_cookbook.nets.vgg16 import load_vgg16_graph
    from cnn_cookbook.nets.vgg19 import load_vgg19_mat, locate_vgg19
    from cnn_cookbook.paths import models_root

    if args.model == "vgg19":
        return load_vgg19_mat(locate_vgg19(args.weights, args.vgg, download=args.download)[0])
    if args.weights == "stand-in":
        raise CookbookError("--weights stand-in exists for --model vgg19 only; give the VGG-16 file")
    return load_vgg16_graph(args.vgg or fetch(NETWORK_FILES[args.model], models_root(), download=args.download))


def load_images(args, settings):
    from cnn_cookbook.stylenet import read_image, scale_style_to_content, scale_to_width

    content, note = read_image(args.content, args.max_size)
    if note:
        print(f"note: content {args.content}: {note}")
    if args.width:
        content = scale_to_width(content, args.width)
    styles = []
    for spec in args.style:
        style, note = read_image(spec, args.max_size)
        if note:
            print(f"note: style {spec}: {note}")
        styles.append(scale_style_to_content(style, content.shape, settings.style_max_size))
    return content, styles


def describe(losses):
    return " ".join(f"{name} {value:.4g}" for name, value in losses.items())


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    from cnn_cookbook import plots, progress, stylenet, summaries
    from cnn_cookbook.io.downloads import ACCEPTED_MISMATCHES
    from cnn_cookbook.errors import CookbookError
    from cnn_cookbook.fileio import ensure_dir, save_image, write_json
    from cnn_cookbook.plots import finish
    from cnn_cookbook.tf1 import new_session, seed_everything, tf

    settings = settings_from_args(args)
    stylenet.style_blend_weights(len(args.style), args.style_blend)  # fail before any heavy work
    step_pattern = args.checkpoint_output or str(Path(args.output_dir) / "step_%04d.png")
    try:
        step_pattern % 1
    except (TypeError, ValueError):
        raise CookbookError(f"--checkpoint-output needs one %-field for the step number (e.g. out_%s.png), "
                            f"not {step_pattern!r}") from None
    content, styles = load_images(args, settings)
    initial = None
    if args.init not in (None, "noise", "content"):
        initial, note = stylenet.read_image(args.init, args.max_size)
        if note:
            print(f"note: initial image {args.init}: {note}")
    network = load_network(args)
    label = f"{network.name} {STAND_IN}" if network.stand_in else network.name
    for note in network.notes:
        print(f"{label}: {note}")
    output_dir = ensure_dir(args.output_dir)
    checkpoint_every = args.checkpoint_every or settings.report_every
    print(f"{label}, {settings.optimizer}, {settings.steps} steps on a "
          f"{content.shape[1]}x{content.shape[0]} image, {len(styles)} style image(s)")

    graph = tf.Graph()
    with graph.as_default():
        rng = seed_everything(args.seed)
    history, result, started = [], None, time.perf_counter()
    loop_started = started
    with new_session(graph, args.device) as session, summaries.RunWriters(cli.summaries_dir(args), graph) as writers:
        writers.images("train", "content_image", content, 0)
        writers.images("train", "style_image", styles, 0)
        steps = stylenet.stylize(session, network, content, styles, settings, args.style_blend, rng,
                                 checkpoint_every, initial)
        with progress.bar(total=settings.steps, unit="step", desc="style", enabled=not args.no_progress) as bar:
            for result in steps:
                if result.final:
                    break
                if result.step == 1:
                    loop_started = time.perf_counter()
                history.append({"step": result.step, **{k: v if math.isfinite(v) else None
                                                        for k, v in result.losses.items()}})
                bar.set_postfix({k: f"{v:.3g}" for k, v in result.losses.items()}, refresh=False)
                bar.update(1)
                writers.scalars("train", result.step, result.losses)
                if result.step % settings.report_every == 0 or result.diverged:
                    bar.write(f"step {result.step}/{settings.steps}: {describe(result.losses)}")
                if result.image is not None:
                    save_image(step_pattern % result.step, result.image)
                    writers.images("train", "stylized", result.image, result.step)
        if result is not None and result.final:
            writers.images("train", "stylized", result.image, settings.steps + 1)
    seconds = time.perf_counter() - loop_started
    output = Path(args.output) if args.output else output_dir / "stylized.png"
    if result is not None and result.final:
        save_image(output, result.image)
    metrics = {
        "network": network.name, "network_file": network.source, "stand_in": network.stand_in,
        "network_label": label, "content": args.content,
        "style": args.style, "style_blend": stylenet.style_blend_weights(len(styles), args.style_blend),
        "image_size": list(content.shape[:2]), "optimizer": settings.optimizer, "steps": len(history),
        "settings": {k: v for k, v in vars(settings).items()}, "seed": args.seed,
        "initial_loss": history[0]["total"] if history else None,
        "final_loss": result.losses["total"] if result is not None and result.final else None,
        "best_step": result.step if result is not None and result.final else None,
        "seconds_per_step": seconds / max(1, len(history)),
        "seconds_total": time.perf_counter() - started,
        "output": str(output) if output.exists() else None,
        "diverged": bool(history and result is not None and result.diverged), "history": history,
        "checksum_mismatch_accepted": list(ACCEPTED_MISMATCHES),
    }
    write_json(output_dir / "metrics.json", metrics)
    figures = {"losses": stylenet.losses_figure(history, f"Losses per step: {label}")}
    if result is not None and result.final:
        figures["images"] = stylenet.images_figure(content, styles, result.image, f"StyleNet: {label}")
    finish(figures, output_dir)
    if metrics["diverged"]:
        kept = (f"the best image so far (step {result.step}) was written to {output}"
                if result.final else "no finite step to keep")
        raise TrainingDiverged(f"the loss became NaN or infinite at step {len(history)}; {kept}; "
                               "lower --learning-rate or the loss weights")
    print(f"loss {metrics['initial_loss']:.4g} -> {metrics['final_loss']:.4g} (best at step "
          f"{metrics['best_step']}), {metrics['seconds_per_step']:.2f} s/step; wrote {output}"
          + (f" [{STAND_IN}]" if network.stand_in else ""))
    if args.show:
        plots.show_figures(figures, output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
