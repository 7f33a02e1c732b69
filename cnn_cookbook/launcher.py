"""A whole cluster on one machine: every ps and worker task of a recipe as a subprocess.

:class:`LocalCluster` picks free ports on one host (loopback unless told otherwise), starts each
task with the cluster flags (``--ps-hosts --worker-hosts --job-name --task-index``), prefixes
each output line with the task's name (``[worker 1] ...``), keeps each task's log in a folder,
and :meth:`LocalCluster.wait` ends the run: done when every worker has exited 0 (the ps tasks
then leave by themselves, or are stopped), a :class:`ClusterError` naming the task when one
fails or when the time limit passes.  Tasks can be killed and started again one by one, which is
how the fault tests use it.  No TensorFlow here.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from cnn_cookbook.cluster import ClusterError
from cnn_cookbook.fileio import ensure_dir


def free_ports(count, host="127.0.0.1"):
    """``count`` distinct ports on ``host`` that nothing listens on right now."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Task:
    """One running task: its process, its log file and the thread copying its output."""

    def __init__(self, job, index, command, log_path, echo, env=None, cwd=None):
        self.job, self.index, self.command, self.log_path = job, index, command, Path(log_path)
        self.lines = []
        self._log = open(self.log_path, "a", encoding="utf-8")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        self._reader = threading.Thread(target=self._copy, args=(echo,), daemon=True)
        self._reader.start()

    @property
    def name(self):
        return f"{self.job} {self.index}"

    def _copy(self, echo):
        for raw in iter(self.process.stdout.readline, b""):
            text = raw.decode("utf-8", "replace")
            self._log.write(text)
            self._log.flush()
            line = text.rstrip("\r\n").split("\r")[-1]  # a progress bar's last state
            if line.strip():
                self.lines.append(line)
                echo(f"[{self.name}] {line}")
        self.process.stdout.close()

    def poll(self):
        return self.process.poll()

    def stop(self, grace=5.0):
        """Terminate (then kill) the process if it still runs; wait for its output to be copied."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.finish()

    def kill(self):
        """SIGKILL, as a crash would end it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.finish()

    def finish(self):
        self._reader.join(5)
        if not self._log.closed:
            self._log.close()

    def last_error(self):
        errors = [line for line in self.lines if line.startswith("error:")]
        if errors:
            return errors[-1][len("error:"):].strip()
        return self.lines[-1].strip() if self.lines else "no output"


class LocalCluster:
    """``ps`` ps tasks and ``workers`` workers of ``script`` (a recipe) with ``args``, on ``host``."""

    def __init__(self, script, args=(), ps=1, workers=2, host="127.0.0.1", log_dir="runs/local_cluster",
                 python=sys.executable, echo=print, env=None, ports=None):
        if ps < 1 or workers < 1:
            raise ClusterError(f"a cluster needs at least 1 ps task and 1 worker, not --ps {ps} --workers {workers}")
        if not Path(script).is_file():
            raise ClusterError(f"recipe {script} not found; give the path of a recipe script after --")
        self.script, self.args, self.python, self.echo = str(script), list(args), python, echo
        self.env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
        self.log_dir = ensure_dir(log_dir)
        ports = list(ports) if ports else free_ports(ps + workers, host)
        self.ps_hosts = [f"{host}:{p}" for p in ports[:ps]]
        self.worker_hosts = [f"{host}:{p}" for p in ports[ps:ps + workers]]
        self.tasks = {}
        self._lock = threading.Lock()

    def command(self, job, index, extra=()):
        return [self.python, self.script, *self.args,
                "--ps-hosts", ",".join(self.ps_hosts), "--worker-hosts", ",".join(self.worker_hosts),
                "--job-name", job, "--task-index", str(index), *extra]

    def _echo(self, line):
        with self._lock:  # whole lines from the reader threads, never interleaved characters
            self.echo(line)

    def start(self, job, index, extra=()):
        """Start (or start again) one task; ``extra`` flags come last, so they override."""
        old = self.tasks.get((job, index))
        if old is not None:
            old.stop()
        task = Task(job, index, self.command(job, index, extra), self.log_dir / f"{job}{index}.log",
                    self._echo, self.env)
        self.tasks[(job, index)] = task
        return task

    def start_all(self):
        for index in range(len(self.ps_hosts)):
            self.start("ps", index)
        for index in range(len(self.worker_hosts)):
            self.start("worker", index)
        return self

    def task(self, job, index):
        return self.tasks[(job, index)]

    def wait(self, timeout, ps_grace=15.0):
        """Until every worker has exited 0; then the ps tasks get ``ps_grace`` s to leave on their own.

        Raises :class:`ClusterError` (and stops every task) when a task fails or ``timeout`` s pass.
        """
        deadline = time.monotonic() + timeout
        try:
            while True:
                for task in self.tasks.values():
                    code = task.poll()
                    if code not in (None, 0):
                        task.finish()
                        raise ClusterError(f"{task.name} failed (exit status {code}): {task.last_error()}; "
                                           f"logs in {self.log_dir}")
                workers = [t for (job, _), t in sorted(self.tasks.items()) if job == "worker"]
                if all(t.poll() == 0 for t in workers):
                    break
                if time.monotonic() > deadline:  # the workers first: the ps tasks wait for them
                    order = sorted(self.tasks.items(), key=lambda item: (item[0][0] != "worker", item[0]))
                    running = [t.name for _, t in order if t.poll() is None]
                    raise ClusterError(f"the cluster did not finish within {timeout:g} s: {running[0]} did not "
                                       f"finish (still running: {', '.join(running)}); logs in {self.log_dir}")
                time.sleep(0.2)
            ps_deadline = time.monotonic() + ps_grace
            for (job, _), task in sorted(self.tasks.items()):
                if job == "ps":
                    while task.poll() is None and time.monotonic() < ps_deadline:
                        time.sleep(0.2)
                    if task.poll() is None:
                        self.echo(f"{task.name} did not stop by itself after the workers finished; stopping it")
                    elif task.poll() != 0:
                        raise ClusterError(f"{task.name} failed (exit status {task.poll()}): "
                                           f"{task.last_error()}; logs in {self.log_dir}")
        finally:
            self.stop_all()

    def stop_all(self):
        for task in self.tasks.values():
            task.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop_all()
        return False
