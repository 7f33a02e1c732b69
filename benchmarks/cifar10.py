#!/usr/bin/env python
"""CIFAR-10 chapter benchmark: input pipelines alone, and the cookbook CNN trained from each.

  python benchmarks/cifar10.py                       # synthetic CIFAR-10 written to a temp folder
  python benchmarks/cifar10.py --data-dir data       # the real binary batches, if present
  python benchmarks/cifar10.py --device gpu          # on a GPU machine

Measures, in one run and one process:
  1. images/s of each input pipeline alone (queue runners, tf.data; training preprocessing, no model);
  2. images/s of training the cookbook CNN at batch 128 fed by each pipeline, and from images
     already preprocessed in memory (a variable on the device, random batches gathered from it);
  3. the machine's float32 GEMM rate (a square matmul) and the CNN's training FLOP rate.
Targets (issue 3): tf.data training >= 0.9x the in-memory rate; CNN training >= 0.6x GEMM FLOP/s.
Issue 12: the pipelines are timed seeded (the recipes' default; they repeat exactly) and
unseeded, and the in-memory step once more with the finite-weights check of a checkpoint step
fetched in the same run, so both costs can be read off.
"""

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import gemm_flops  # noqa: E402
from cnn_cookbook import cifar10_cnn  # noqa: E402
from cnn_cookbook.datasets import cifar10 as c10  # noqa: E402
from cnn_cookbook.datasets import cifar10_pipeline as cp  # noqa: E402
from cnn_cookbook.multi_device import build_towers  # noqa: E402
from cnn_cookbook.nets.cifar10 import cookbook_cifar  # noqa: E402
from cnn_cookbook.tf1 import device_name, new_session, resolve_device, tf  # noqa: E402
from cnn_cookbook.training import all_finite  # noqa: E402


def cookbook_flops_per_image(num_classes=10):
    """Multiply-adds x2 of one forward pass of the cookbook CNN on 24x24x3, and x3 for a training
    step (forward, gradients w.r.t. activations and w.r.t. weights; LRN/pool/ReLU not counted)."""
    conv1 = 24 * 24 * 64 * (5 * 5 * 3) * 2
    conv2 = 12 * 12 * 64 * (5 * 5 * 64) * 2
    dense = (6 * 6 * 64 * 384 + 384 * 192 + 192 * num_classes) * 2
    forward = conv1 + conv2 + dense
    return forward, 3 * forward


def timed(session, fetch, steps, warmup):
    for _ in range(warmup):
        session.run(fetch)
    began = time.perf_counter()
    for _ in range(steps):
        session.run(fetch)
    return time.perf_counter() - began


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="folder with cifar-10-batches-bin/ (default: synthetic in a temp dir)")
    p.add_argument("--train-per-class", type=int, default=500, help="synthetic images per class")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--pipeline-batches", type=int, default=40, help="batches timed per pipeline alone")
    p.add_argument("--train-steps", type=int, default=30, help="training steps timed per input")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="queue reader threads")
    p.add_argument("--gemm-size", type=int, default=2048)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is kept")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    args = p.parse_args(argv)


    if args.data_dir:
        batches_dir, dataset = c10.find_cifar10("cifar10", args.data_dir)
    else:
        root = c10.write_synthetic_cifar(tempfile.mkdtemp(prefix="cifar10-bench-"),
                                         train_per_class=args.train_per_class, test_per_class=10)
        batches_dir, dataset = root / c10.BINARY_FOLDER, "synthetic"
    device = resolve_device(args.device)
    compute = device_name(args.device)
    def session_factory(graph):
        return new_session(graph, args.device)
    hp, _ = cifar10_cnn.resolve("cookbook", 50000, batch_size=args.batch_size)
    rows = []

    # 1. pipelines alone (timed below, interleaved with the training runs)
    def pipeline_session(pipeline):
        graph = tf.Graph()
        with graph.as_default():
            tf.set_random_seed(0)
            batch = cp.train_batch(pipeline, batches_dir, args.batch_size, "cookbook", seed=0,
                                   threads=args.threads)
            return session_factory(graph), batch

    # 2. training the cookbook CNN
    forward, per_image = cookbook_flops_per_image()

    def train_session(make_batch, check=False):
        graph = tf.Graph()
        with graph.as_default():
            tf.set_random_seed(0)
            images, labels, feed_init = make_batch()
            rate = cifar10_cnn.learning_rate(hp, tf.train.get_or_create_global_step(), 1)
            towers = build_towers(lambda x: cookbook_cifar(x, 10, True)[0], images, labels,
                                  tf.train.GradientDescentOptimizer(rate), 1, device)
            fetch = towers.train_op
            if check:  # what fit adds to the step's run before a checkpoint
                fetch = [towers.train_op, all_finite(tf.global_variables(), after=towers.train_op)]
            session = session_factory(graph)
            session.run(tf.global_variables_initializer(), feed_init)
        return session, fetch

    def from_pipeline(pipeline, seed=0):
        def make():
            with tf.device("/cpu:0"):
                batch = cp.train_batch(pipeline, batches_dir, args.batch_size, "cookbook", seed=seed,
                                       threads=args.threads)
            return batch.images, batch.labels, None
        return make

    def from_memory():
        # the test-time preprocessing done once in NumPy, then batches gathered on the device
        images, labels = c10.read_binary_split(batches_dir, "train")
        crops = images[:, 4:28, 4:28].astype(np.float32)
        flat = crops.reshape(len(crops), -1)
        std = np.maximum(flat.std(axis=1), 1 / np.sqrt(flat.shape[1]))
        crops = ((flat - flat.mean(axis=1, keepdims=True)) / std[:, None]).reshape(crops.shape)
        with tf.device(compute):
            holder = tf.placeholder(tf.float32, crops.shape)
            store = tf.Variable(holder, trainable=False, collections=[tf.GraphKeys.GLOBAL_VARIABLES])
            store_labels = tf.constant(labels)
            index = tf.random_uniform([args.batch_size], 0, len(crops), dtype=tf.int32)
            return tf.gather(store, index), tf.gather(store_labels, index), {holder: crops}

    # the machine is shared: interleave the measurements and keep each one's best round, so
    # a burst of foreign load does not favour whichever input happened to run first
    runs = {name: train_session(make, check) for name, make, check in
            (("in-memory", from_memory, False), ("in-memory, finite check", from_memory, True),
             ("queue", from_pipeline("queue"), False), ("dataset", from_pipeline("dataset"), False),
             ("queue, unseeded", from_pipeline("queue", None), False),
             ("dataset, unseeded", from_pipeline("dataset", None), False))}
    alone = {name: pipeline_session(name) for name in ("queue", "dataset")}
    train = {name: 0.0 for name in runs}
    step_seconds = {name: [] for name in runs}
    pipeline_rate = {name: 0.0 for name in alone}
    gemm = 0.0
    with contextlib.ExitStack() as stack:
        for session, _ in [*runs.values(), *alone.values()]:
            stack.enter_context(session)
            stack.enter_context(cp.queue_runners(session))
        for _ in range(args.rounds):
            for name, (session, batch) in alone.items():
                seconds = timed(session, batch, args.pipeline_batches, args.warmup)
                pipeline_rate[name] = max(pipeline_rate[name], args.pipeline_batches * args.batch_size / seconds)
            for name, (session, train_op) in runs.items():
                seconds = timed(session, train_op, args.train_steps, args.warmup)
                train[name] = max(train[name], args.train_steps * args.batch_size / seconds)
            for _ in range(args.train_steps):  # one step each in turn: the same load on every input
                for name, (session, train_op) in runs.items():
                    began = time.perf_counter()
                    session.run(train_op)
                    step_seconds[name].append(time.perf_counter() - began)
            gemm = max(gemm, gemm_flops(args.gemm_size, device=args.device))
    for name, value in pipeline_rate.items():
        rows.append((f"{name} pipeline alone", value))
    for name, value in train.items():
        rows.append((f"train cookbook CNN, {name} input", value))

    print(f"dataset {dataset} ({batches_dir}), device {device}, batch {args.batch_size}, "
          f"TensorFlow {tf.VERSION}")
    print(f"{'measurement':<40} {'images/s':>10}")
    for name, value in rows:
        print(f"{name:<40} {value:>10.0f}")
    print(f"float32 GEMM {args.gemm_size}x{args.gemm_size}: {gemm / 1e9:.1f} GFLOP/s")
    print(f"cookbook CNN: {forward / 1e6:.1f} MFLOP forward, {per_image / 1e6:.1f} MFLOP per trained image")
    print(f"tf.data training / in-memory training = {train['dataset'] / train['in-memory']:.2f} (target >= 0.9)")
    print(f"queue training / in-memory training   = {train['queue'] / train['in-memory']:.2f}")
    median = {name: float(np.median(values)) for name, values in step_seconds.items()}
    print("median step time, steps interleaved across the inputs: " +
          ", ".join(f"{name} {1e3 * value:.0f} ms" for name, value in median.items()))
    print(f"finite check in the step: {median['in-memory, finite check'] / median['in-memory']:.3f}x the "
          "plain step's median time")
    for name in ("queue", "dataset"):
        print(f"{name}: seeded (repeats exactly) / unseeded median step time = "
              f"{median[name] / median[name + ', unseeded']:.3f}")
    best = max(train.values())
    print(f"CNN training FLOP rate / GEMM rate     = {best * per_image / gemm:.2f} (target >= 0.6; "
          f"{best * per_image / 1e9:.1f} GFLOP/s)")


if __name__ == "__main__":
    main()
