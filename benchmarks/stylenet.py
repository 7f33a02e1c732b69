#!/usr/bin/env python
"""Seconds per style-transfer step vs. one forward+backward pass of the same network.

  python benchmarks/stylenet.py                       # 256x256, full VGG-19 shapes, adam + lbfgs
  python benchmarks/stylenet.py --size 512 --steps 1000 --optimizers adam   # the GPU run

VGG-19 with the real layer shapes (64..512 channels, kernels HWIO as the .mat loader returns
them) and random weights, so no download is needed.  The reference is one Session.run of the
gradient of the deepest layer the cookbook's losses use (relu5_2) with respect to the image.
The target (a step costing at most 1.15x that) is measured by running a reference pass, an Adam
step and an L-BFGS loss+gradient evaluation alternately in one session, so load changes on a
shared machine hit all three alike.  The stylize() rows time the real generator end to end
(Python and SciPy included); an L-BFGS iteration can take more than one evaluation.
Prints a table; nothing is written.
"""

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from cnn_cookbook import stylenet  # noqa: E402
from cnn_cookbook.nets.vgg19 import VGG19_LAYERS, FeatureNetwork, Layer, layer_kind  # noqa: E402
from cnn_cookbook.tf1 import new_session, resolve_device, tf  # noqa: E402


def random_vgg19(seed=0):
    rng = np.random.default_rng(seed)
    widths = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    layers, channels = [], 3
    for name in VGG19_LAYERS:
        if layer_kind(name) == "conv":
            out = widths[int(name[4])]
            kernel = rng.standard_normal((3, 3, channels, out), dtype=np.float32) * np.sqrt(2 / (9 * channels))
            layers.append(Layer(name, "conv", kernel.astype(np.float32), np.zeros(out, np.float32)))
            channels = out
        else:
            layers.append(Layer(name, layer_kind(name)))
    mean = np.array([123.68, 116.779, 103.939], np.float32)
    return FeatureNetwork("vgg19", tuple(layers), np.eye(3, dtype=np.float32), -mean, source="random")


def time_reference(network, size, repeats, device, deepest="relu5_2"):
    """Seconds for one forward + backward pass (d sum(deepest) / d image), median of repeats."""
    graph = tf.Graph()
    with graph.as_default():
        image = tf.Variable(np.random.default_rng(1).uniform(0, 255, (1, size, size, 3)).astype(np.float32))
        features = network.stack()(image.read_value(), last_layer=deepest)
        gradient, = tf.gradients(tf.reduce_sum(features[deepest]), image)
        # reduce to a scalar so that no image travels back to Python
        fetch = tf.reduce_sum(gradient)
        init = tf.global_variables_initializer()
    with new_session(graph, device) as session:
        session.run(init)
        session.run(fetch)  # warm-up: graph optimisation, memory allocation
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            session.run(fetch)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_stylize(network, size, steps, optimizer, device):
    """Seconds per step (median), setup seconds, first and last loss, loss evaluations per step
    and the whole run's seconds (``steps`` + 1 steps).

    Session.run calls are time-stamped: after the setup runs (targets, initialisation) every
    call is one step (Adam) or one loss+gradient evaluation (L-BFGS), so the median gap between
    calls is the cost of one, Python overhead included.  The first gap (graph optimisation on
    the first run) and the last runs (final image and losses) are left out.
    """
    rng = np.random.default_rng(2)
    content = rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
    settings = stylenet.StyleSettings.cookbook(optimizer=optimizer, steps=steps + 1, report_every=10 ** 6)
    graph = tf.Graph()
    losses = []
    with new_session(graph, device) as session:
        counting = CountingSession(session)
        started = time.perf_counter()
        for result in stylenet.stylize(counting, network, content, [style], settings, rng=rng):
            if not result.final:
                losses.append(result.losses["total"])
    setup_runs = 4  # content features, style Grams, variable initialisation, start_op
    final_runs = 2 if optimizer != "lbfgs" else 0  # last image, last losses
    starts = counting.starts[setup_runs:len(counting.starts) - final_runs]
    gaps = np.diff(starts[1:])
    evaluations_per_step = len(starts) / (steps + 1)
    setup = counting.starts[setup_runs] - started
    total = time.perf_counter() - started
    return (float(np.median(gaps)) * evaluations_per_step, setup, losses[0], losses[-1],
            evaluations_per_step, total)


class CountingSession:
    """A Session stand-in that time-stamps every run call."""

    def __init__(self, session):
        self.session, self.graph, self.starts = session, session.graph, []

    def run(self, *args, **kwargs):
        self.starts.append(time.perf_counter())
        return self.session.run(*args, **kwargs)


def time_interleaved(network, size, repeats, device):
    """Adam step, L-BFGS evaluation and the fwd+bwd reference in one session, run alternately.

    On a shared machine the load changes from second to second; alternating the three runs
    exposes them to the same conditions.  Returns median seconds of each.
    """
    rng = np.random.default_rng(3)
    content = rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
    style = rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
    settings = stylenet.StyleSettings.cookbook()
    deepest = "relu5_2"
    graph = tf.Graph()
    with new_session(graph, device) as session:
        with graph.as_default():
            stack = network.stack()
        targets, grams = stylenet.compute_targets(session, stack, content, [style], settings)
        with graph.as_default():
            style_graph = stylenet.build_style_tensors(
                stack, targets, grams, [1.0], stylenet.initial_image(content, network, settings, rng), settings)
            image = tf.Variable(content[None])
            features = stack(image.read_value(), last_layer=deepest)
            reference = tf.reduce_sum(tf.gradients(tf.reduce_sum(features[deepest]), image)[0])
            session.run(tf.global_variables_initializer())
        x = content[None].copy()
        evaluation = {"losses": style_graph.losses, "gradient": style_graph.gradient}
        runs = {
            "reference": lambda: session.run(reference),
            "adam": lambda: session.run([style_graph.train_op, style_graph.losses]),
            # what one L-BFGS evaluation does: feed the image, fetch losses and gradient
            "lbfgs": lambda: session.run(evaluation, {style_graph.input: x})["gradient"].astype(np.float64),
        }
        times = {name: [] for name in runs}
        for repeat in range(repeats + 1):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                if repeat:  # the first round warms up each run
                    times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=4, help="timed steps per optimizer (after one warm-up)")
    p.add_argument("--repeats", type=int, default=5, help="rounds of the interleaved measurement")
    p.add_argument("--optimizers", nargs="+", default=["adam", "lbfgs"])
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)

    network = random_vgg19()
    device = resolve_device(args.device)
    print(f"VGG-19 (random weights, real shapes), {args.size}x{args.size}, device {device}, "
          f"{platform.processor() or platform.machine()}")
    interleaved = time_interleaved(network, args.size, args.repeats, args.device)
    reference = interleaved["reference"]
    rows = [("forward+backward to relu5_2", reference, 1.0, ""),
            ("adam step (interleaved)", interleaved["adam"], interleaved["adam"] / reference, ""),
            ("lbfgs evaluation (interleaved)", interleaved["lbfgs"], interleaved["lbfgs"] / reference,
             "feed image, fetch losses + gradient")]
    for optimizer in args.optimizers:
        per_step, setup, first, last, evaluations, total = time_stylize(network, args.size, args.steps,
                                                                 optimizer, args.device)
        rows.append((f"{optimizer} step via stylize()", per_step, per_step / reference,
                     f"loss {first:.4g} -> {last:.4g}; {evaluations:.2f} evaluations/step; "
                     f"setup {setup:.1f} s, whole run {total:.1f} s"))
    print(f"{'what':34s} {'s/step':>8s} {'x fwd+bwd':>10s}  notes")
    for name, seconds, ratio, notes in rows:
        print(f"{name:34s} {seconds:8.3f} {ratio:10.2f}  {notes}")
    print("target: an Adam step or an L-BFGS evaluation <= 1.15x forward+backward, measured "
          f"alternately in one session ({args.repeats} rounds, medians); stylize() rows include "
          "Python and SciPy overhead, and L-BFGS's line search makes an iteration >1 evaluation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
