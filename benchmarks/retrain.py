#!/usr/bin/env python
"""Bottleneck throughput: images batched through the graph versus one Session.run per image.

Runs the chapter's real caching path (:func:`cnn_cookbook.bottlenecks.cache_bottlenecks`: read the
cache, decode the image file, run the graph, write the cache file atomically) on the stand-in
graph, which has Inception v3's input size (every image is resized to 299x299x3 in the graph),
once per transfer mode, all in one run:

- ``single``: the tutorials' way (retrain.py, Hvass #08), one ``Session.run`` per image;
- ``batch``: same-size images stacked, one ``Session.run`` per ``--batch-size`` images;
- ``map``: the batch-1 graph inside ``tf.map_fn``, one ``Session.run`` per batch.

"outside" is the share of the wall time not spent inside ``Session.run`` (file reading, image
decoding, cache writes, Python); the target is under 10%.  Each mode gets a fresh cache folder
and one warm-up batch that is not timed.

  python benchmarks/retrain.py --images 512 --batch-size 32
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from cnn_cookbook import bottlenecks as bn  # noqa: E402
from cnn_cookbook.datasets import folders  # noqa: E402
from cnn_cookbook.nets import inception_v3 as iv3  # noqa: E402


def make_images(root, count, size, extension, seed=0):
    rng = np.random.default_rng(seed)
    per_class = count // 4
    images = {f"class{k}": [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(per_class)]
              for k in range(4)}
    return folders.write_class_folders(root, images, extension)


def measure(session_by_mode, mode, lists, class_names, cache_dir, batch_size):
    began = time.perf_counter()
    sets, stats = bn.cache_bottlenecks(session_by_mode[mode], lists, class_names, cache_dir,
                                       batch_size=batch_size, progress=False)
    wall = time.perf_counter() - began
    return stats.computed, wall, stats.session_seconds, sets["training"].values


def open_sessions(graph_def, modes, lists, class_names, work, batch_size, device):
    """One session per mode, each warmed up on one batch (not timed)."""
    sessions = {}
    for mode in modes:
        sessions[mode] = bn.open_transfer_session(graph_def, mode, device)
        warm = {name: {"training": lists[name]["training"][:batch_size], "validation": [], "testing": []}
                for name in class_names}
        bn.cache_bottlenecks(sessions[mode], warm, class_names, work / f"warm-{mode}", batch_size=batch_size,
                             progress=False)
    return sessions


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=512, help="images per mode")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--size", type=int, default=32, help="side of the source images (resized to 299 in the graph)")
    p.add_argument("--format", choices=("png", "jpg"), default="png")
    p.add_argument("--modes", default="single,batch,map")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)


    work = Path(tempfile.mkdtemp(prefix="retrain-bench-"))
    try:
        files = iv3.locate_inception_v3("stand-in", models_dir=work / "models")
        graph_def = iv3.load_inception_graph_def(files.graph_path)
        make_images(work / "images", args.images, args.size, "." + args.format)
        found = folders.list_class_folders(work / "images")
        lists = {name: {"training": found.images[name], "validation": [], "testing": []}
                 for name in found.class_names}
        modes = args.modes.split(",")
        sessions = open_sessions(graph_def, modes, lists, found.class_names, work, args.batch_size, args.device)
        load_before = os.getloadavg()[0]
        runs = {mode: [] for mode in modes}
        reference = None
        for repeat in range(args.repeats):  # interleaved, so a burst of load hits every mode alike
            for mode in modes:
                count, wall, inside, values = measure(sessions, mode, lists, found.class_names,
                                                      work / f"cache-{mode}-{repeat}", args.batch_size)
                reference = values if reference is None else reference
                runs[mode].append((count, wall, inside, float(np.abs(values - reference).max())))
        for ts in sessions.values():
            ts.session.close()
        print(f"STAND-IN graph (Inception v3 tensor names, input resized to 299x299x3, random weights); "
              f"{args.images} {args.size}x{args.size} {args.format.upper()} images, batch {args.batch_size}, "
              f"device {args.device}, median of {args.repeats} interleaved runs; {os.cpu_count()} CPUs, "
              f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after")
        print(f"| mode | Session.run per | images/s | wall s | outside Session.run | max abs diff vs {modes[0]} |")
        print("| --- | --- | --- | --- | --- | --- |")
        speed = {}
        for mode in modes:
            count = runs[mode][0][0]
            wall = float(np.median([r[1] for r in runs[mode]]))
            outside = float(np.median([(r[1] - r[2]) / r[1] for r in runs[mode]]))
            speed[mode] = count / wall
            per = "image" if mode == "single" else f"{args.batch_size} images"
            print(f"| {mode} | {per} | {speed[mode]:.1f} | {wall:.2f} | {100 * outside:.1f}% | "
                  f"{max(r[3] for r in runs[mode]):.1e} |")
        for mode in modes[1:]:
            print(f"{mode}: {speed[mode] / speed[modes[0]]:.2f}x the throughput of {modes[0]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
