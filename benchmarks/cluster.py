#!/usr/bin/env python
"""Images/s of the MNIST recipe in one process and as a loopback cluster, and what a step moves.

  python benchmarks/cluster.py --steps 300
  python benchmarks/cluster.py --steps 300 --model hvass-cnn --batch-size 64

Runs, one after the other, in one invocation: a single process; 1 ps + 1 worker; 1 ps + 2
workers asynchronous; 1 ps + 2 workers synchronous (SyncReplicasOptimizer).  Each is the real
recipe (recipes/mnist_cnn.py, through recipes' LocalCluster for the clusters) on the synthetic
digits, evaluating only at the end so the steps are what is timed.

Per run it reports: images/s (the chief's: global steps x examples per step / its time in
training steps), the chief's seconds per update of its own, and the bytes that crossed the
loopback interface per worker update (``/proc/net/dev``, so anything else using 127.0.0.1 at the
same time is counted too) next to the model's own figure: every variable pulled once and one
gradient pushed per variable, 2 x 4 bytes x parameters.  On a machine with fewer cores than
tasks no speed-up can show; the overhead per step is the cluster's seconds per update minus the
single process's.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, np, table  # noqa: E402

from cnn_cookbook.launcher import LocalCluster  # noqa: E402


def loopback_bytes():
    """Bytes sent on the loopback interface so far (Linux), or None elsewhere."""
    try:
        for line in Path("/proc/net/dev").read_text().splitlines():
            name, _, counters = line.partition(":")
            if name.strip() == "lo":
                return int(counters.split()[8])  # transmit bytes (each loopback byte is sent once)
    except OSError:
        return None
    return None


def recipe_flags(args, output_dir):
    return ["--model", args.model, "--dataset", "synthetic", "--steps", str(args.steps),
            "--batch-size", str(args.batch_size), "--eval-every", str(args.steps), "--eval-size", "500",
            "--checkpoint-every", str(args.steps), "--no-progress", "--output-dir", str(output_dir)]


def run_single(args, output_dir):
    began = loopback_bytes()
    subprocess.run([sys.executable, str(REPO / "recipes" / "mnist_cnn.py"), *recipe_flags(args, output_dir)],
                   check=True, stdout=subprocess.DEVNULL)
    return loopback_bytes() - began if began is not None else None


def run_cluster(args, output_dir, workers, sync):
    flags = recipe_flags(args, output_dir) + (["--sync-replicas"] if sync else [])
    cluster = LocalCluster(REPO / "recipes" / "mnist_cnn.py", flags, ps=1, workers=workers,
                           log_dir=output_dir / "logs", echo=lambda line: None)
    began = loopback_bytes()
    with cluster:
        cluster.start_all()
        cluster.wait(args.timeout)
    return loopback_bytes() - began if began is not None else None


def parameters(checkpoint_dir):
    """Trainable parameters in the chief's last checkpoint (optimizer slots and the step left out)."""
    # imported here, after the clusters ran: the launching process needs no TensorFlow until now
    from cnn_cookbook.tf1 import tf

    path = tf.train.latest_checkpoint(str(checkpoint_dir))
    return sum(int(np.prod(shape)) for name, shape in tf.train.list_variables(path)
               if name != "global_step" and not re.search(r"/(Momentum|Adam(_1)?)$", name)
               and not name.startswith("beta"))


def measure(output_dir, moved, workers):
    metrics = json.loads((output_dir / "metrics.json").read_text())
    history = json.loads((output_dir / "history.json").read_text())
    own = len(history["train"]["step"])
    updates = own
    for index in range(1, workers):
        log = (output_dir / "logs" / f"worker{index}.log").read_text()
        updates += int(re.search(r"\((\d+) updates of its own\)", log).group(1))
    return {"images_per_second": metrics["images_per_second"], "seconds_per_update": metrics["train_seconds"] / own,
            "updates": updates, "bytes_per_update": moved / updates if moved is not None else None,
            "accuracy": metrics["test_accuracy"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--model", default="cookbook", choices=("cookbook", "linear", "hvass-cnn"))
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="cluster-benchmark-"))
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; {args.steps} steps of {args.model}, "
          f"batch {args.batch_size}", flush=True)
    results = []
    single = root / "single"
    results.append(("one process", measure(single, run_single(args, single), 1)))
    for name, workers, sync in (("1 ps + 1 worker", 1, False), ("1 ps + 2 workers, async", 2, False),
                                ("1 ps + 2 workers, sync", 2, True)):
        out = root / name.replace(" ", "").replace(",", "-").replace("+", "_")
        results.append((name, measure(out, run_cluster(args, out, workers, sync), workers)))
        print(f"{name}: done", flush=True)
    params = parameters(single / "checkpoints")
    model_bytes = 2 * 4 * params
    base = results[0][1]["seconds_per_update"]
    rows = []
    for name, r in results:
        moved = f"{r['bytes_per_update'] / 1e6:.2f}" if r["bytes_per_update"] is not None else "-"
        rows.append((name, f"{r['images_per_second']:.0f}", f"{1000 * r['seconds_per_update']:.1f}",
                     f"{1000 * (r['seconds_per_update'] - base):+.1f}", moved, f"{100 * r['accuracy']:.2f}%"))
    table(rows, ["run", "images/s", "ms per update (chief)", "overhead vs one process, ms",
                 "loopback MB per worker update", "test accuracy"])
    print(f"\nmodel: {params} parameters; pulled + pushed per update: {model_bytes / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
