"""Cluster mode: flags and TF_CONFIG, bad input, and real ps/worker processes on 127.0.0.1.

The process tests are few and small (the linear model, tiny batches) because each task is a
TensorFlow start-up; every one is bounded in time and every process is killed on failure.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, assert_one_line_error, run_in_process, run_recipe


def _args(**given):
    from cnn_cookbook import cluster

    parsed = cluster.add_cluster_args(argparse.ArgumentParser()).parse_args([])
    for key, value in given.items():
        setattr(parsed, key, value)
    return parsed


def test_cluster_from_flags_and_tf_config():
    from cnn_cookbook.cluster import ClusterError, cluster_from_args
    from cnn_cookbook.datasets.mnist import Split

    assert cluster_from_args(_args(), environ={}) is None
    config = cluster_from_args(_args(ps_hosts="127.0.0.1:1", worker_hosts="127.0.0.1:2,127.0.0.1:3",
                                     job_name="worker", task_index=1, sync_replicas=True), environ={})
    assert (config.ps, config.workers, config.task, config.is_chief) == (
        ("127.0.0.1:1",), ("127.0.0.1:2", "127.0.0.1:3"), "worker 1", False)
    assert config.replicas == 2 and config.describe()["workers"] == 2
    # TF_CONFIG, with the estimator's separate chief counted as worker 0
    tf_config = json.dumps({"cluster": {"ps": ["h:1"], "chief": ["h:2"], "worker": ["h:3"]},
                            "task": {"type": "worker", "index": 0}})
    from_env = cluster_from_args(_args(), environ={"TF_CONFIG": tf_config})
    assert from_env.workers == ("h:2", "h:3") and from_env.task == "worker 1"
    # the flags win over TF_CONFIG
    flagged = cluster_from_args(_args(ps_hosts="a:1", worker_hosts="a:2", job_name="ps", task_index=0),
                                environ={"TF_CONFIG": tf_config})
    assert flagged.task == "ps 0" and flagged.fingerprint() != from_env.fingerprint()
    # the workers' shards of a split are disjoint and cover it
    split = Split(np.zeros((11, 28, 28, 1), np.float32), np.arange(11, dtype=np.int32))
    parts = [split.shard(i, 3).labels.tolist() for i in range(3)]
    assert sorted(sum(parts, [])) == list(range(11)) and parts[0][:2] == [0, 3]
    for given, fragment in [
        (dict(job_name="chief"), "unknown --job-name 'chief'"),
        (dict(task_index=2), "--task-index 2 is beyond the 2 worker host(s)"),
        (dict(worker_hosts="127.0.0.1"), "is not host:port"),
        (dict(task_index=None), "needs --task-index"),
    ]:
        flags = dict(ps_hosts="127.0.0.1:1", worker_hosts="127.0.0.1:2,127.0.0.1:3", job_name="worker",
                     task_index=0)
        flags.update(given)
        with pytest.raises(ClusterError) as raised:
            cluster_from_args(_args(**flags), environ={})
        assert fragment in str(raised.value)


def test_a_worker_without_its_ps_or_port_fails_with_one_line(mnist_dir, tmp_path):
    """In this process: each check fails before any server starts."""
    from cnn_cookbook.launcher import free_ports

    ps, worker = free_ports(2)
    common = ["--dataset", "idx", "--data-dir", str(mnist_dir), "--output-dir", str(tmp_path), "--no-progress",
              "--ps-hosts", f"127.0.0.1:{ps}", "--worker-hosts", f"127.0.0.1:{worker}", "--job-name", "worker"]
    began = time.monotonic()
    line = assert_one_line_error(run_in_process("mnist_cnn", *common, "--task-index", "0", "--cluster-timeout", "1.5"))
    assert f"cannot reach ps 0 at 127.0.0.1:{ps} after 1.5 s" in line
    assert time.monotonic() - began < 60  # bounded by the flag, not a hang
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", worker))
        taken.listen(1)
        line = assert_one_line_error(run_in_process("mnist_cnn", *common, "--task-index", "0"))
    assert f"port {worker} of worker 0" in line and "already in use" in line
    assert_one_line_error(run_in_process("mnist_cnn", *common, "--task-index", "1"), "--task-index 1 is beyond")
    assert_one_line_error(run_in_process("mnist_cnn", *common, "--task-index", "0", "--job-name", "boss"),
                          "unknown --job-name 'boss'")


# ---------------------------------------------------------------------------------------------
# Real processes


@pytest.fixture
def local_cluster(tmp_path):
    """A factory of LocalClusters whose processes are all killed when the test ends."""
    from cnn_cookbook.launcher import LocalCluster

    made = []

    def make(*args, **kwargs):
        cluster = LocalCluster(REPO / "recipes" / "mnist_cnn.py", *args, log_dir=tmp_path / "logs",
                               echo=lambda line: None, **kwargs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        for task in cluster.tasks.values():
            if task.process.poll() is None:
                os.kill(task.process.pid, signal.SIGCONT)  # a paused task cannot act on SIGTERM
        cluster.stop_all()


STAND_IN_TASK = """
import sys, time
job, index = sys.argv[sys.argv.index("--job-name") + 1], sys.argv[sys.argv.index("--task-index") + 1]
print("hello from", job, index, flush=True)
if job == "worker" and index == "1" and "--fail" in sys.argv:
    print("error: worker 1 could not go on", file=sys.stderr)
    sys.exit(2)
time.sleep(0 if job == "worker" and "--quick" in sys.argv else 60)
"""


def test_launcher_prefixes_logs_and_ends_failed_or_stuck_clusters_with_one_line(tmp_path):
    """recipes/local_cluster.py with a stand-in task (no TensorFlow): one line and status 2 when a
    task fails or the cluster outlives --timeout, naming the task; logs kept per task."""
    script = tmp_path / "task.py"
    script.write_text(STAND_IN_TASK)
    out = tmp_path / "out"

    def launch(*flags, timeout="30"):
        return run_recipe("local_cluster.py", "--ps", "1", "--workers", "2", "--timeout", timeout, "--",
                          script, "--output-dir", out, *flags, timeout=120)

    failed = launch("--fail")
    assert_one_line_error(failed, "worker 1 failed (exit status 2): worker 1 could not go on", str(out / "logs"))
    stuck = launch("--quick", timeout="3")  # the workers finish; the stand-in ps never stops by itself
    assert stuck.returncode == 0 and "ps 0 did not stop by itself" in stuck.stdout
    stuck = launch(timeout="3")
    assert_one_line_error(stuck, "the cluster did not finish within 3 s: worker 0 did not finish "
                                 "(still running: worker 0, worker 1, ps 0)")
    assert "[worker 1] hello from worker 1" in stuck.stdout
    assert (out / "logs" / "worker1.log").read_text().count("hello from worker 1") == 3


def _wait_until(condition, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _latest_checkpoint(directory):
    state = Path(directory) / "checkpoints" / "checkpoint"
    if not state.is_file():
        return 0
    first = state.read_text().splitlines()[0]
    return int(first.rsplit("-", 1)[1].strip('"'))


def _joined(task):
    return any(" joined the cluster at step " in line for line in task.lines)


def test_workers_chief_and_ps_faults_on_loopback(local_cluster, mnist_dir, tmp_path):
    """Mismatched spec; a worker killed and restarted rejoins; the chief killed and restarted
    resumes from its checkpoint; a lost ps stops the workers with one line; the cluster started
    again (sync mode, through recipes/local_cluster.py) resumes from the chief's last checkpoint
    and finishes at the requested step with the single-process outputs."""
    out = tmp_path / "run"
    # Through the faults the job is far from done (however fast the workers run next to a slow
    # test process); the final run then asks for a few steps past the last checkpoint.
    flags = ["--model", "linear", "--dataset", "idx", "--data-dir", mnist_dir, "--output-dir", out,
             "--steps", 10 ** 6, "--batch-size", 20, "--eval-every", 10, "--eval-size", 100,
             "--checkpoint-every", 10, "--no-progress", "--cluster-timeout", 90]
    cluster = local_cluster([str(f) for f in flags], ps=1, workers=2)

    cluster.start("ps", 0)
    other = list(cluster.worker_hosts) + ["127.0.0.1:1"]
    bad = cluster.start("worker", 1, ["--worker-hosts", ",".join(other)])
    assert bad.process.wait(120) == 2
    bad.finish()
    assert f"worker 1 and ps 0 at {cluster.ps_hosts[0]} were started with different cluster specs" in bad.last_error()

    w1 = cluster.start("worker", 1)
    w0 = cluster.start("worker", 0)
    _wait_until(lambda: _latest_checkpoint(out) >= 10 and _joined(w1), "a first checkpoint")
    # A worker dies; while it comes back the chief is paused so the job cannot end without it.
    # (A pause must stay under --cluster-timeout: a step in flight would time out.)
    w1.kill()
    os.kill(w0.process.pid, signal.SIGSTOP)
    w1 = cluster.start("worker", 1)
    _wait_until(lambda: _joined(w1), "worker 1 to rejoin")
    os.kill(w0.process.pid, signal.SIGCONT)
    # the chief dies after its next checkpoint and resumes from its latest one
    mark = _latest_checkpoint(out)
    _wait_until(lambda: _latest_checkpoint(out) > mark, "a checkpoint after the rejoin")
    os.kill(w1.process.pid, signal.SIGSTOP)
    w0.kill()
    resumed_at = _latest_checkpoint(out)
    w0 = cluster.start("worker", 0, ["--resume"])
    _wait_until(lambda: _joined(w0), "the chief to come back")
    os.kill(w1.process.pid, signal.SIGCONT)
    assert f"restored from model.ckpt-{resumed_at}" in "\n".join(w0.lines)
    # the ps dies: both workers stop with one line naming it
    mark = _latest_checkpoint(out)
    _wait_until(lambda: _latest_checkpoint(out) > mark, "a checkpoint after the chief's return")
    cluster.task("ps", 0).kill()
    # TF 1.15 notices only when a step outlives --cluster-timeout.  Both workers stop with one
    # line (on TF 2.21 the non-chief once stayed blocked in closing its session to the dead ps).
    for worker in (w0, w1):
        assert worker.process.wait(200) == 2, worker.lines[-3:]
        worker.finish()
        errors = [line for line in worker.lines if line.startswith("error:")]
        assert len(errors) == 1 and "lost ps 0 at " + cluster.ps_hosts[0] in errors[0], worker.lines[-3:]
    last = _latest_checkpoint(out)
    assert last >= 10
    steps = last + 30
    assert not (out / "metrics.json").exists()

    # the whole cluster again, in sync mode, through the launcher
    proc = subprocess.run([sys.executable, str(REPO / "recipes" / "local_cluster.py"), "--timeout", "240", "--",
                           str(REPO / "recipes" / "mnist_cnn.py"), *map(str, flags), "--resume", "--sync-replicas",
                           "--steps", str(steps)],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, MPLBACKEND="Agg"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    # (the checkpoint is named by the step the chief had seen; async workers may have added a few
    # updates before it was written, and those are restored too)
    assert f", restored from model.ckpt-{last}" in proc.stdout
    assert "[ps 0] ps 0: every worker is done; stopping" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert last <= metrics["resumed_from_step"] < steps and metrics["steps"] == steps
    assert metrics["cluster"]["workers"] == 2 and metrics["cluster"]["sync_replicas"] is True
    assert metrics["test_accuracy"] > 0.5 and metrics["test_examples"] == 1000
    for name in ("history.json", "loss.png", "accuracy.png", "confusion_matrix.png", "weights.png",
                 "checkpoints/network.json", "logs/worker1.log", "logs/ps0.log"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").iterdir())


@pytest.mark.parametrize("pipeline", ["queue", "dataset"])
def test_cifar10_pipelines_give_each_worker_its_own_records(tmp_path, pipeline):
    """Two workers' shards of the training records: disjoint, and each only its own records."""
    from cnn_cookbook.datasets import cifar10 as c10
    from cnn_cookbook.datasets import cifar10_pipeline as pipelines
    from cnn_cookbook.tf1 import new_session, tf

    batches = c10.write_synthetic_cifar(tmp_path, train_per_class=4, test_per_class=1, seed=1) / c10.BINARY_FOLDER
    per_file = [c10.read_binary_batch(f)[0] for f in c10.binary_files(batches, "train")]

    def keys(images):
        return {image.tobytes() for image in images}

    seen = []
    for index in range(2):
        mine = keys(np.concatenate([images[index::2] for images in per_file]))
        graph = tf.Graph()
        with graph.as_default():
            batch = pipelines.train_batch(pipeline, batches, 8, "keras-style", seed=0, shuffle_buffer=8,
                                          shard=(index, 2))
            with new_session(graph, "cpu") as session, pipelines.queue_runners(session):
                images = np.concatenate([session.run(batch.images) for _ in range(6)])
        # keras-style input is x / 255 - 0.5 of the whole image, so the pixels can be recovered
        drawn = keys(np.rint((images + 0.5) * 255).astype(np.uint8))
        assert drawn <= mine and len(drawn) > len(mine) // 2
        seen.append(drawn)
    assert not seen[0] & seen[1]


def test_cifar10_sync_cluster_survives_a_worker_restart(tmp_path, monkeypatch):
    """recipes/local_cluster.py, 1 ps + 2 workers, recipes/cifar10_cnn.py in sync mode on tiny
    synthetic CIFAR (the queue pipeline, the recipe's default), with worker 1 killed once it has
    joined and started again: it rejoins, the job ends at the requested step, the ps stops.

    SyncReplicasOptimizer hands out one token per worker and update, so the chief alone would
    go on taking both and could end the job while worker 1 restarts (seconds).  The chief is
    therefore paused (SIGSTOP) the moment it has joined, well before step ``steps``, and until
    worker 1 is back: nothing advances while it is paused, however fast the tasks run."""
    from cnn_cookbook import launcher
    from cnn_cookbook.datasets.cifar10 import write_synthetic_cifar

    data = write_synthetic_cifar(tmp_path / "data", train_per_class=8, test_per_class=2, seed=1)
    out, steps = tmp_path / "run", 30
    rejoined = []

    class WorkerRestart(launcher.LocalCluster):
        paused = False

        def _echo(self, line):
            if not self.paused and line.startswith("[worker 0] worker 0 joined the cluster at step"):
                os.kill(self.task("worker", 0).process.pid, signal.SIGSTOP)
                self.paused = True
            super()._echo(line)

        def start_all(self):
            super().start_all()
            first = self.task("worker", 1)
            _wait_until(lambda: self.paused and _joined(first), "both workers to join")
            first.kill()
            again = self.start("worker", 1)
            try:
                _wait_until(lambda: _joined(again) or again.poll() is not None, "worker 1 to rejoin")
            finally:
                os.kill(self.task("worker", 0).process.pid, signal.SIGCONT)
            rejoined.extend(line for line in again.lines if " joined the cluster at step " in line)
            return self

        def stop_all(self):  # a test that failed while the chief was paused must still end it
            for task in self.tasks.values():
                if task.poll() is None:
                    os.kill(task.process.pid, signal.SIGCONT)
            super().stop_all()

    monkeypatch.setattr(launcher, "LocalCluster", WorkerRestart)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    proc = run_in_process("local_cluster.py", "--ps", "1", "--workers", "2", "--timeout", "240", "--",
                          REPO / "recipes" / "cifar10_cnn.py", "--model", "hvass", "--dataset", "cifar10",
                          "--data-dir", data, "--output-dir", out, "--steps", steps, "--batch-size", 4,
                          "--shuffle-buffer", 20, "--no-progress", "--sync-replicas", "--cluster-timeout", 120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    (line,) = rejoined
    assert int(line.rsplit(" ", 1)[1]) < steps, line  # it came back before the job could end
    assert f"[worker 1] worker 1: done at step {steps}" in proc.stdout
    assert "[ps 0] ps 0: every worker is done; stopping" in proc.stdout
    assert "did not stop by itself" not in proc.stdout and "Traceback" not in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == steps and metrics["test_examples"] == 20 and metrics["model"] == "hvass"
    assert metrics["cluster"] == {"ps_tasks": 1, "workers": 2, "ps_hosts": metrics["cluster"]["ps_hosts"],
                                  "worker_hosts": metrics["cluster"]["worker_hosts"], "sync_replicas": True,
                                  "replicas_to_aggregate": 2}
    # the chief's history counts each global step once, up to the requested one
    history = json.loads((out / "history.json").read_text())
    train_steps = history["train"]["step"]
    assert train_steps == sorted(set(train_steps)) and train_steps[-1] == steps
    for name in ("loss.png", "accuracy.png", "confusion_matrix.png", "test_predictions.png",
                 "checkpoints/network.json", "checkpoints/checkpoint"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").iterdir())
    logs = {name: (out / "logs" / f"{name}.log").read_text() for name in ("ps0", "worker0", "worker1")}
    assert logs["worker1"].count("worker 1 joined the cluster at step") == 2  # both lives, one log
    assert "test accuracy" in logs["worker0"] and "every worker is done" in logs["ps0"]
