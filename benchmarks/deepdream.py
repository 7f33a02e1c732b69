#!/usr/bin/env python
"""DeepDream timing: seconds for a 512x512 image, 4 octaves x 10 steps, and the share of the
time spent outside ``Session.run`` (NumPy rolls, tiling, normalisation, blurs; target < 10%).

  python benchmarks/deepdream.py                       # stand-in of inception5h's depth, CPU
  python benchmarks/deepdream.py --graph models/inception5h/tensorflow_inception_graph.pb
  python benchmarks/deepdream.py --renderers deepdream,lapnorm,recursive --size 256

The stand-in (no download needed) has 14 convolutions with inception5h's strides and about
its multiply-adds up to mixed4d (~1.5 GMAC for a 224x224 image, 1x1 bottlenecks before the
3x3s, pools folded into strides); its weights are random.  Prints a Markdown table.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from cnn_cookbook import deepdream, graphs  # noqa: E402
from cnn_cookbook.nets import inception5h  # noqa: E402
from cnn_cookbook.tf1 import new_session, resolve_device, tf  # noqa: E402

#: (name, channels, kernel, stride): a chain with GoogLeNet's shape up to mixed4d
STAND_IN_LAYERS = [
    ("conv2d0_pre_relu", 64, 7, 2),
    ("conv2d1_pre_relu", 64, 1, 2),
    ("conv2d2_pre_relu", 192, 3, 1),
    ("mixed3a_3x3_bottleneck_pre_relu", 96, 1, 2),
    ("mixed3a_3x3_pre_relu", 256, 3, 1),
    ("mixed3b_3x3_bottleneck_pre_relu", 128, 1, 1),
    ("mixed3b_3x3_pre_relu", 480, 3, 1),
    ("mixed4a_3x3_bottleneck_pre_relu", 96, 1, 2),
    ("mixed4a_3x3_pre_relu", 512, 3, 1),
    ("mixed4b_3x3_bottleneck_pre_relu", 112, 1, 1),
    ("mixed4b_3x3_pre_relu", 512, 3, 1),
    ("mixed4c_3x3_bottleneck_pre_relu", 128, 1, 1),
    ("mixed4c_3x3_pre_relu", 512, 3, 1),
    ("mixed4d_3x3_bottleneck_pre_relu", 144, 1, 1),
]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--graph", help="a real tensorflow_inception_graph.pb (default: the stand-in)")
    p.add_argument("--renderers", default="deepdream", help="comma-separated renderer names")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--octaves", type=int, default=4)
    p.add_argument("--tile-size", type=int, default=512)
    p.add_argument("--layer", default="mixed4d_3x3_bottleneck_pre_relu")
    p.add_argument("--channel", type=int, default=30)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)


    graph_path = args.graph
    if graph_path is None:
        graph_path = Path(tempfile.mkdtemp()) / "stand_in_inception5h.pb"
        graphs.write_graph_def(graphs.make_stand_in_graph_def(STAND_IN_LAYERS, seed=0), graph_path)
    rows = []
    graph = tf.Graph()
    with graph.as_default():
        network = inception5h.load_inception5h(graph_path)
        score, description = deepdream.layer_objective(network, args.layer, args.channel)
        with new_session(graph, args.device) as session:
            dreamer = deepdream.Dreamer(session, network)
            objective = dreamer.objective(score, description)
            image = deepdream.start_image("astronaut")[0]
            image = dreamer.resize(image, (args.size, args.size))
            # warm-up: the first run of each shape pays for graph optimisation and allocation
            dreamer.tiled_gradient(objective, image, args.tile_size, shift=(0, 0))
            for name in args.renderers.split(","):
                settings = {"steps": args.steps, "rng": np.random.default_rng(0)}
                if name == "recursive":
                    settings.update(repeats=args.octaves - 1, tile_size=400)
                elif name != "naive":
                    settings.update(octaves=args.octaves, tile_size=args.tile_size)
                else:
                    settings.pop("rng")
                dreamer.session_seconds = 0.0
                ops_before = len(graph.get_operations())
                start = time.perf_counter()
                result = deepdream.RENDERERS[name](dreamer, objective, image, **settings)
                total = time.perf_counter() - start
                inside = dreamer.session_seconds
                rows.append((name, result.image.shape[0], len(result.scores), total, inside,
                             100.0 * (total - inside) / total, len(graph.get_operations()) - ops_before))
    device = resolve_device(args.device)
    print(f"graph: {'stand-in' if args.graph is None else graph_path}; device: {device}; "
          f"{args.size}x{args.size}, {args.octaves} octaves x {args.steps} steps, {description}")
    print("| renderer | final side | steps | seconds | in Session.run | outside (%) | ops added |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, side, steps, total, inside, outside, added in rows:
        print(f"| {name} | {side} | {steps} | {total:.2f} | {inside:.2f} | {outside:.1f} | {added} |")


if __name__ == "__main__":
    main()
