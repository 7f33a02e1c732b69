"""Shared measuring helpers for the benchmarks (run by hand; results go in the README)."""

import platform
import time

import numpy as np


def machine():
    import os
    return f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.python_version()}"


def gemm_flops(tf, size=2048, repeats=10, device="/cpu:0", config=None):
    """The float32 matrix-multiply rate (FLOP/s) TensorFlow reaches here, as the roof to compare with."""
    graph = tf.Graph()
    with graph.as_default(), tf.device(device):
        a = tf.Variable(tf.random_normal([size, size], seed=1))
        b = tf.Variable(tf.random_normal([size, size], seed=2))
        product = tf.reduce_sum(tf.matmul(a, b))  # reduce so no 16 MB result crosses into Python
        with tf.Session(graph=graph, config=config) as session:
            session.run(tf.global_variables_initializer())
            session.run(product)  # warm-up
            began = time.perf_counter()
            for _ in range(repeats):
                session.run(product)
            seconds = time.perf_counter() - began
    return 2.0 * size ** 3 * repeats / seconds


def table(rows, headers):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))


def best_of(fn, repeats=3):
    return max(fn() for _ in range(repeats))


__all__ = ["machine", "gemm_flops", "table", "best_of", "np"]
