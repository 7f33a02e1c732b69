"""Shared measuring helpers for the benchmarks (run by hand; results go in docs/benchmarks.md)."""

import os
import platform
import time

import numpy as np


def machine():
    return f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.python_version()}"


def gemm_flops(size=2048, repeats=5, device="auto", warmup=2, chain=4):
    """The float32 matrix-multiply rate (FLOP/s) TensorFlow reaches on ``device``: the roof that
    every benchmark's "fraction of GEMM" divides by.

    Each ``Session.run`` multiplies ``chain`` [size, size] products in a row (scaled by 1/size so
    the values stay finite) and reduces the result to a scalar, so neither the per-run overhead
    nor a 16 MB result crossing into Python is counted.  The session is the recipes' own
    (:func:`cnn_cookbook.tf1.new_session`), so the thread settings match the CNN being compared.
    """
    # imported here: benchmarks/stacks.py runs each stack in a subprocess and imports no TensorFlow
    from cnn_cookbook.tf1 import device_name, new_session, tf

    graph = tf.Graph()
    with graph.as_default(), tf.device(device_name(device)):
        a = tf.Variable(tf.random_normal([size, size], seed=1))
        b = tf.Variable(tf.random_normal([size, size], seed=2))
        product = a
        for _ in range(chain):
            product = tf.matmul(product, b) * (1.0 / size)
        result = tf.reduce_sum(product)
    with new_session(graph, device) as session:
        session.run(a.initializer)
        session.run(b.initializer)
        for _ in range(warmup):
            session.run(result)
        began = time.perf_counter()
        for _ in range(repeats):
            session.run(result)
        seconds = time.perf_counter() - began
    return chain * 2.0 * size ** 3 * repeats / seconds


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
