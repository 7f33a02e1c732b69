#!/usr/bin/env python
"""The two supported stacks side by side: TensorFlow 2.x (compat.v1) and TensorFlow 1.15.

  python benchmarks/stacks.py --tf2 .venv/bin/python --tf1 .venv-tf1/bin/python [--rounds 3]

Each measurement runs in its own subprocess of the given interpreter (one TensorFlow per process),
the two stacks interleaved round by round so that a burst of load elsewhere on the machine hits
both alike; the best round of each is kept. Measured, on the CPU:
  * MNIST: the shared training loop (``training.fit``, one Session.run per step) on the cookbook
    CNN at batch 100, fed from memory;
  * CIFAR-10: a training step of the cookbook LRN CNN at batch 128 on 24x24 crops, fed from memory.
Reported as images/s per stack and the ratio TF 2.x / TF 1.15.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import table  # noqa: E402

WORKLOADS = {  # name: (network, image shape, batch size)
    "mnist": ("cookbook", (28, 28, 1), 100),
    "cifar10": ("cifar10-cookbook", (24, 24, 3), 128),
}


def measure(workload, steps, warmup=10):
    """images/s of ``steps`` training steps of one workload, in this process's TensorFlow."""
    # imported here: only the measuring subprocesses import TensorFlow, each its own stack's
    import numpy as np

    from cnn_cookbook import training
    from cnn_cookbook.nets import get_network
    from cnn_cookbook.tf1 import new_session, seed_everything, tf

    network, shape, batch = WORKLOADS[workload]
    graph = tf.Graph()
    with graph.as_default():
        rng = seed_everything(0)
        # plain SGD at a small rate for both: the optimiser's cost is the same on either stack
        net = training.build_classifier(get_network(network), shape, 10,
                                        tf.train.GradientDescentOptimizer, 0.01)
        images = rng.random((2000, *shape), dtype=np.float32)
        labels = rng.integers(0, 10, 2000).astype(np.int32)

        def feed():
            index = rng.integers(0, len(labels), batch)
            return {net.images: images[index], net.labels: labels[index]}

        with new_session(graph, "cpu") as session:
            session.run(tf.global_variables_initializer())
            training.fit(session, net, warmup, feed=feed, progress=False)
            result = training.fit(session, net, warmup + steps, start_step=warmup, feed=feed, progress=False)
            return {"images_per_second": steps * batch / result.train_seconds, "tensorflow": tf.VERSION,
                    "python": sys.version.split()[0]}


def run_worker(python, workload, steps):
    proc = subprocess.run([python, __file__, "--worker", workload, "--steps", str(steps)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"error: {python} failed on {workload}: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tf2", help="Python of the TensorFlow 2.x venv")
    p.add_argument("--tf1", help="Python of the TensorFlow 1.15 venv")
    p.add_argument("--steps", type=int, default=100, help="timed steps per measurement")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is kept")
    p.add_argument("--worker", choices=sorted(WORKLOADS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker, args.steps)))
        return
    if not (args.tf2 and args.tf1):
        p.error("--tf2 and --tf1 are both needed (the Python of each stack's venv)")
    stacks = {"TF 2.x": args.tf2, "TF 1.15": args.tf1}
    best, versions = {}, {}
    for _ in range(args.rounds):
        for workload in WORKLOADS:
            for stack, python in stacks.items():
                result = run_worker(python, workload, args.steps)
                key = (workload, stack)
                best[key] = max(best.get(key, 0.0), result["images_per_second"])
                versions[stack] = f"TensorFlow {result['tensorflow']}, Python {result['python']}"
    print("; ".join(f"{stack}: {version}" for stack, version in versions.items()))
    rows = [(workload, f"{best[(workload, 'TF 2.x')]:.0f}", f"{best[(workload, 'TF 1.15')]:.0f}",
             f"{best[(workload, 'TF 2.x')] / best[(workload, 'TF 1.15')]:.2f}x") for workload in WORKLOADS]
    table(rows, ["training step (CPU)", "TF 2.x images/s", "TF 1.15 images/s", "TF 2.x / TF 1.15"])


if __name__ == "__main__":
    main()
