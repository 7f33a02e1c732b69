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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402

NETWORK_FILES = ("vgg19", "vgg16")  # --network's earlier spelling names a variant, not a file


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
    from cnn_cookbook.training import given

    preset = StyleSettings.cookbook if args.model == "vgg19" else StyleSettings.hvass
    init = args.init if args.init in ("noise", "content") else None  # else a file: see main
    flags = {"steps": args.steps, "optimizer": args.optimizer, "learning_rate": args.learning_rate,
             "content_weight": args.content_weight, "style_weight": args.style_weight,
             "tv_weight": args.tv_weight, "init": init, "pooling": args.pooling,
             "preserve_colors": args.preserve_colors or None}
    return preset(**given(flags))


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    from cnn_cookbook import stylenet
    from cnn_cookbook.errors import TrainingDiverged
    from cnn_cookbook.run_folder import claim

    settings = settings_from_args(args)
    stylenet.style_blend_weights(len(args.style), args.style_blend)  # fail before any heavy work
    if args.checkpoint_output:
        stylenet.check_step_pattern(args.checkpoint_output)
    with claim(args.output_dir) as output_dir:  # held until the outputs are written
        content, styles, initial = stylenet.load_images(
            args.content, args.style, args.max_size, args.width, settings.style_max_size,
            None if args.init in (None, "noise", "content") else args.init)
        network = stylenet.load_network(args.model, args.weights, args.vgg, args.download)
        run = stylenet.transfer_style(
            network, content, styles, settings=settings, style_blend=args.style_blend, initial=initial,
            output_dir=output_dir, output=args.output, step_pattern=args.checkpoint_output,
            checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device,
            summaries_dir=args.summaries_dir, progress=not args.no_progress,
            sources={"content": args.content, "style": args.style})
        cli.write_outputs(output_dir, run.metrics, figures=run.figures, show=args.show and not run.metrics["diverged"])
    m = run.metrics
    if m["diverged"]:
        raise TrainingDiverged(run.outputs["diverged"])
    tag = f" [{stylenet.STAND_IN}]" if network.stand_in else ""
    print(f"loss {m['initial_loss']:.4g} -> {m['final_loss']:.4g} (best at step {m['best_step']}), "
          f"{m['seconds_per_step']:.2f} s/step; wrote {m['output']}{tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
