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
from cnn_cookbook.errors import CookbookError  # noqa: E402


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


def load_network(args):
    from cnn_cookbook import visualize
    from cnn_cookbook.nets import inception5h

    if args.model == "checkpoint":
        return visualize.load_checkpoint_network(args.checkpoint_dir)
    if args.model == "inception5h":
        return inception5h.load_inception5h(args.graph or inception5h.find_inception5h(download_missing=args.download))
    return visualize.load_inception_v3(args.graph or visualize.find_inception_v3(download_missing=args.download))


def default_layers(network, kind):
    if kind == "inception5h":
        return ["mixed4d_3x3_bottleneck_pre_relu"]
    if kind == "inception_v3":  # Hvass #13 shows conv_4 among the first layers
        names = list(network.layers)
        return names[min(4, len(names) - 1):][:1]
    convs = [name for name in network.layers if name.startswith("conv")]
    return convs or list(network.layers)


def file_name(text):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    import numpy as np

    from cnn_cookbook import deepdream, plots, progress, summaries, visualize
    from cnn_cookbook.fileio import ensure_dir, save_image
    from cnn_cookbook.tf1 import new_session, seed_everything, tf

    graph = tf.Graph()
    with graph.as_default():
        network = load_network(args)
        if args.list_layers:
            for name, channels in network.describe_layers():
                print(f"{name:50s} {channels:5d}")
            return 0
        layers = args.layer or default_layers(network, args.model)
        rng = seed_everything(args.seed)
        # every op is built before the session starts: the loop below adds none
        if args.class_id or args.channel is not None:
            probabilities = tf.nn.softmax(network.logits[0]) if network.logits is not None else None
            targets = []  # (output name, objective, probability watched or None)
            for class_id in args.class_id or []:
                targets.append((f"class_{class_id}", visualize.class_score(network, class_id),
                                probabilities[class_id]))
            if args.channel is not None:
                for layer in layers:
                    score, _ = deepdream.layer_objective(network, layer, args.channel)
                    targets.append((f"{file_name(layer)}_channel_{args.channel}", score, None))
            gradients = [tf.gradients(score, network.images)[0] for _, score, _ in targets]
        else:
            stimulus_ops = {layer: visualize.StimulusOps(network, layer) for layer in layers}
            for layer, ops in stimulus_ops.items():
                last = min(args.first_filter + args.filters, ops.channels)
                if not 0 <= args.first_filter < ops.channels:
                    raise CookbookError(f"--first-filter {args.first_filter} is out of range for layer "
                                            f"{layer!r}, which has {ops.channels} filters (0..{ops.channels - 1})")
                ops.shown = list(range(args.first_filter, last))
        output_dir = ensure_dir(args.output_dir, field="output_dir")
        metrics = {"network": network.name, "seed": args.seed, "results": []}
        figures = {}
        with new_session(graph, args.device) as session, summaries.RunWriters(cli.summaries_dir(args), graph) as writers:
            if network.restore:
                network.restore(session)
            if args.class_id or args.channel is not None:
                for (name, score, watched), gradient in zip(targets, gradients):
                    limit = args.steps or (200 if watched is not None else 30)
                    with progress.bar(total=limit, desc=name, unit="step", enabled=not args.no_progress) as bar:
                        result = visualize.maximize_activation(
                            session, network, score, limit, args.step_size, (args.image_size,) * 2, rng,
                            gradient=gradient, probability=watched,
                            threshold=args.threshold if watched is not None else None, on_step=bar.update)
                    lo, hi = network.value_range
                    pixels = (result.image - lo) / (hi - lo) * 255.0
                    save_image(output_dir / f"{name}_image.png", pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
                    writers.images("train", name, pixels, len(result.scores))
                    for step, value in enumerate(result.scores):
                        writers.scalars("train", step, {f"{name}/objective": value})
                    entry = {"target": name, "objective_before": result.scores[0], "objective_after": result.scores[-1]}
                    if watched is not None:
                        entry.update(steps_run=len(result.probabilities) - (0 if result.reached else 1),
                                     step_limit=limit, threshold=args.threshold, reached=bool(result.reached),
                                     target_probability=result.probabilities[-1])
                    if probabilities is not None:
                        probs = session.run(probabilities, {network.images: result.image[None]})
                        top = int(np.argmax(probs))
                        names = network.class_names
                        entry.update(predicted_class=top, predicted_probability=float(probs[top]),
                                     predicted_name=names[top] if names and top < len(names) else None)
                    metrics["results"].append(entry)
                    title = name.replace("_", " ")
                    if watched is not None:
                        title = (f"{title}: p = {100 * entry['target_probability']:.2f}% after {entry['steps_run']} steps"
                                 f"\n(threshold {100 * args.threshold:g}% "
                                 f"{'reached' if entry['reached'] else 'NOT reached, limit ' + str(limit)})")
                    elif probabilities is not None:
                        title += f": classified {entry['predicted_class']} ({100 * entry['predicted_probability']:.2f}%)"
                    figures[name] = plots.scored_image(pixels / 255.0, title)
                    print(f"{name}: objective {entry['objective_before']:.4f} -> {entry['objective_after']:.4f}"
                          + (f", classified as {entry['predicted_class']} ({100 * entry['predicted_probability']:.2f}%)"
                             if probabilities is not None else "")
                          + ("" if watched is None else
                             f"; p({name.split('_')[1]}) {100 * entry['target_probability']:.2f}% after "
                             f"{entry['steps_run']} steps: threshold {100 * args.threshold:g}% "
                             + ("reached" if entry["reached"] else f"not reached within {limit} steps (raise --steps)")))
            else:
                for layer, ops in stimulus_ops.items():
                    steps = args.steps or 20
                    chunks = -(-len(ops.shown) // (network.batch_size or len(ops.shown) or 1))
                    with progress.bar(total=steps * chunks, desc=layer, unit="step",
                                      enabled=not args.no_progress) as bar:
                        stimuli = visualize.maximum_stimuli(session, network, layer, ops.shown, steps,
                                                            args.step_size, (args.image_size,) * 2, rng=rng,
                                                            ops=ops, on_step=bar.update)
                    figures[f"stimuli_{file_name(layer)}"] = visualize.stimuli_figure(stimuli, layer)
                    writers.images("train", f"stimuli_{file_name(layer)}", list(stimuli.display), steps)
                    metrics["results"].append({
                        "layer": layer, "filters": stimuli.filters,
                        "activation_before": stimuli.before, "activation_after": stimuli.after})
                    print(f"{layer}: mean activation of {len(stimuli.filters)} filters "
                          f"{np.mean(stimuli.before):.4f} -> {np.mean(stimuli.after):.4f}")
    cli.write_outputs(output_dir, metrics, figures=figures, show=args.show)
    print(f"outputs in {output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
