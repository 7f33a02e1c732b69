"""Between-graph data parallelism on TensorFlow's own cluster runtime: ps and worker tasks.

The design of the TF1 "Distributed TensorFlow" guide (``mnist_replica.py``): every task runs the
same recipe; ps tasks hold the variables and serve them; each worker builds the whole graph with
``replica_device_setter`` (variables on the ps tasks, the rest on itself) and trains on its own
shard of the data, either asynchronously or through ``SyncReplicasOptimizer``.  Worker 0 is the
chief: it initialises (or restores) the variables, writes checkpoints, summaries and the final
evaluation.

    config = cluster_from_args(args)          # flags or TF_CONFIG; None for a single process
    serve_ps(config)                          # a ps task: serve until every worker is done
    worker = Worker(config)                   # a worker task: starts its server
    with tf.device(worker.device_setter()):   # build the graph, wrapping the optimizer:
        ... worker.optimizer(opt) ...
    step = worker.step_after(train_op, global_step)
    with worker.session(checkpoints, resume) as (session, start_step):
        training.fit(session, ..., global_step=step)

Shutdown is explicit so nothing hangs and no thread prints a traceback: each ps holds a "done"
queue into which every worker puts its index when it finishes, and the ps returns once it has
heard from all of them; in sync mode the chief releases one token per worker before stopping its
token thread, so a worker blocked on the token queue sees the last step and ends.

Parsing the flags and the socket checks need no TensorFlow; the rest imports it when called.
"""

import json
import os
import socket
import threading
import time
from dataclasses import dataclass

from cnn_cookbook.errors import CookbookError, first_line

JOBS = ("ps", "worker")


class ClusterError(CookbookError):
    """A cluster task cannot start or lost another task."""


@dataclass(frozen=True)
class ClusterConfig:
    """The cluster and this process's place in it.

    ``ps`` and ``workers`` are ``host:port`` strings; worker 0 is the chief.  ``timeout`` is how
    long (seconds) a task waits for the tasks it needs before it gives up with one line.
    """

    ps: tuple
    workers: tuple
    job_name: str
    task_index: int
    sync: bool = False
    replicas_to_aggregate: int = None   # sync mode; None: one gradient from each worker
    timeout: float = 60.0

    @property
    def is_chief(self):
        return self.job_name == "worker" and self.task_index == 0

    @property
    def num_workers(self):
        return len(self.workers)

    @property
    def task(self):
        return f"{self.job_name} {self.task_index}"

    @property
    def address(self):
        return (self.ps if self.job_name == "ps" else self.workers)[self.task_index]

    @property
    def replicas(self):
        return self.replicas_to_aggregate or self.num_workers

    def spec(self):
        return {"ps": list(self.ps), "worker": list(self.workers)}

    def fingerprint(self):
        """What every task of one cluster must agree on."""
        return json.dumps({"cluster": self.spec(), "sync": self.sync, "replicas": self.replicas},
                          sort_keys=True)

    def describe(self):
        """The cluster's shape, for metrics.json."""
        return {"ps_tasks": len(self.ps), "workers": self.num_workers, "ps_hosts": list(self.ps),
                "worker_hosts": list(self.workers), "sync_replicas": self.sync,
                "replicas_to_aggregate": self.replicas if self.sync else None}


# ---------------------------------------------------------------------------------------------
# Flags and TF_CONFIG


def add_cluster_args(p):
    """The TF1 cluster flags, plus sync mode and the wait limit."""
    g = p.add_argument_group("cluster (between-graph replication; default: one process)")
    g.add_argument("--ps-hosts", help="comma-separated host:port of the ps tasks")
    g.add_argument("--worker-hosts", help="comma-separated host:port of the workers (the first is the chief)")
    g.add_argument("--job-name", help="this task's job: ps or worker")
    g.add_argument("--task-index", type=int, help="this task's index in its job's host list")
    g.add_argument("--sync-replicas", action="store_true",
                   help="synchronous updates (SyncReplicasOptimizer); default asynchronous")
    g.add_argument("--replicas-to-aggregate", type=int,
                   help="sync mode: gradients averaged per update (default: the number of workers)")
    g.add_argument("--cluster-timeout", type=float, default=60.0,
                   help="seconds to wait for the other tasks before giving up")
    return p


def parse_hosts(text, flag):
    """``"a:1,b:2"`` -> ``("a:1", "b:2")``, each checked to be host:port."""
    hosts = tuple(h.strip() for h in (text or "").split(",") if h.strip())
    for host in hosts:
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise ClusterError(f"{flag} entry {host!r} is not host:port (e.g. 127.0.0.1:2222)")
    if len(set(hosts)) != len(hosts):
        raise ClusterError(f"{flag} lists the same host:port twice: {text}")
    return hosts


def _from_tf_config(text):
    """TF_CONFIG's ``cluster`` (ps, worker, optional chief) and ``task`` (type, index)."""
    try:
        parsed = json.loads(text)
        cluster, task = parsed.get("cluster") or {}, parsed.get("task") or {}
        chief = list(cluster.get("chief") or [])
        workers = chief + list(cluster.get("worker") or [])
        job, index = task.get("type"), int(task.get("index", 0))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ClusterError(f"TF_CONFIG is not the JSON TensorFlow expects ({exc}); "
                           '{"cluster": {"ps": [...], "worker": [...]}, "task": {"type": "worker", "index": 0}}')
    if job == "chief":   # the estimator layout: the chief is listed apart; here it is worker 0
        job, index = "worker", index
    elif job == "worker" and chief:
        index += len(chief)
    return ",".join(cluster.get("ps") or []), ",".join(workers), job, index


def cluster_from_args(args, environ=None):
    """A :class:`ClusterConfig` from the flags of :func:`add_cluster_args`, else from TF_CONFIG;
    None when neither names a cluster (a single-process run)."""
    environ = os.environ if environ is None else environ
    flags = (args.ps_hosts, args.worker_hosts, args.job_name, args.task_index)
    if all(f is None for f in flags):
        if not environ.get("TF_CONFIG"):
            if args.sync_replicas:
                raise ClusterError("--sync-replicas needs a cluster: --ps-hosts, --worker-hosts, "
                                   "--job-name and --task-index (or TF_CONFIG)")
            return None
        ps_hosts, worker_hosts, job, index = _from_tf_config(environ["TF_CONFIG"])
        source = "TF_CONFIG"
    else:
        missing = [name for name, f in zip(("--ps-hosts", "--worker-hosts", "--job-name", "--task-index"),
                                           flags) if f is None]
        if missing:
            raise ClusterError(f"a cluster task needs {', '.join(missing)} too "
                               "(--ps-hosts, --worker-hosts, --job-name and --task-index together)")
        ps_hosts, worker_hosts, job, index = flags
        source = "the flags"
    ps, workers = parse_hosts(ps_hosts, "--ps-hosts"), parse_hosts(worker_hosts, "--worker-hosts")
    if not ps or not workers:
        raise ClusterError(f"the cluster in {source} needs at least one ps host and one worker host")
    if job not in JOBS:
        raise ClusterError(f"unknown --job-name {job!r}; use ps or worker")
    hosts = ps if job == "ps" else workers
    if not 0 <= index < len(hosts):
        raise ClusterError(f"--task-index {index} is beyond the {len(hosts)} {job} host(s) "
                           f"({', '.join(hosts)}); use 0..{len(hosts) - 1}")
    replicas = args.replicas_to_aggregate
    if replicas is not None and not 0 < replicas:
        raise ClusterError(f"--replicas-to-aggregate must be at least 1, not {replicas}")
    if args.cluster_timeout <= 0:
        raise ClusterError(f"--cluster-timeout must be positive, not {args.cluster_timeout}")
    return ClusterConfig(ps, workers, job, index, bool(args.sync_replicas), replicas, args.cluster_timeout)


# ---------------------------------------------------------------------------------------------
# Sockets: checks that need no TensorFlow


def _split(address):
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def check_port_free(config):
    """One line, not a crash inside gRPC, when this task's port is taken."""
    host, port = _split(config.address)
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # as a server binds: a port left in TIME_WAIT by an earlier run is free; only a listener counts
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("", port))   # TensorFlow's server listens on every interface
    except OSError:
        raise ClusterError(f"port {port} of {config.task} ({config.address}) is already in use; stop "
                           "what holds it or pick another port in --ps-hosts/--worker-hosts") from None
    finally:
        probe.close()


def reachable(address, wait=0.5):
    try:
        with socket.create_connection(_split(address), timeout=wait):
            return True
    except OSError:
        return False


def wait_for(config, tasks):
    """Wait (up to ``config.timeout`` s) until every ``(job, index, address)`` accepts connections."""
    deadline = time.monotonic() + config.timeout
    pending = list(tasks)
    while pending:
        pending = [t for t in pending if not reachable(t[2])]
        if not pending:
            return
        if time.monotonic() > deadline:
            job, index, address = pending[0]
            raise ClusterError(f"{config.task} cannot reach {job} {index} at {address} after "
                               f"{config.timeout:g} s; start that task first or check the host lists "
                               "(--cluster-timeout sets the wait)")
        time.sleep(0.2)


def ps_tasks(config):
    return [("ps", i, a) for i, a in enumerate(config.ps)]


def lost_tasks(config):
    """The ps tasks that no longer answer (after a failed step)."""
    return [t for t in ps_tasks(config) if not reachable(t[2])]


# ---------------------------------------------------------------------------------------------
# TensorFlow: servers, placement, sessions

_FINGERPRINT = "cnn_cookbook_cluster_fingerprint_ps{}"
SPEC_WAIT = 15.0   # seconds a ps may take between opening its port and publishing its cluster spec
LOSS_WAIT = 2.0    # seconds a failed step's worker keeps probing the ps tasks before it names the error


def _tf():
    from cnn_cookbook.tf1 import tf
    return tf


def new_session(graph=None, **kwargs):
    """:func:`cnn_cookbook.tf1.new_session`, imported when a task starts (see the module docstring)."""
    from cnn_cookbook import tf1
    return tf1.new_session(graph, **kwargs)


def start_server(config, cpu_devices=1):
    """This task's ``tf.train.Server`` (after checking its port is free)."""
    tf = _tf()
    from cnn_cookbook.tf1 import new_server

    check_port_free(config)
    server_config = tf.ConfigProto(device_count={"CPU": max(1, int(cpu_devices)), "GPU": 0}
                                   if config.job_name == "ps" else {"CPU": max(1, int(cpu_devices))},
                                   allow_soft_placement=True)
    server_config.gpu_options.allow_growth = True
    try:
        return new_server(tf.train.ClusterSpec(config.spec()), config.job_name, config.task_index, server_config)
    except tf.errors.OpError as exc:
        raise ClusterError(f"{config.task} could not start its server on {config.address}: "
                           f"{first_line(exc)}") from None


def _fingerprint_variable(tf, index, value=""):
    """A string variable on ps ``index`` holding the cluster fingerprint that ps was started with.
    Kept out of every collection: no initializer, saver or readiness check of the workers sees it."""
    with tf.device(f"/job:ps/task:{index}"):
        return tf.Variable(value, name=_FINGERPRINT.format(index), trainable=False, collections=[])


def _done_queue(tf, config, index):
    with tf.device(f"/job:ps/task:{index}"):
        return tf.FIFOQueue(config.num_workers, tf.int32, shapes=[], shared_name=f"cnn_cookbook_done_ps{index}",
                            name=f"done_ps{index}")


def serve_ps(config, announce=print):
    """Run a ps task: serve the variables until every worker has said it is done, then return."""
    tf = _tf()
    server = start_server(config)
    graph = tf.Graph()
    with graph.as_default():
        fingerprint = _fingerprint_variable(tf, config.task_index, config.fingerprint())
        done = _done_queue(tf, config, config.task_index).dequeue()
    # this task only: closing a session that knows the workers would wait on them once they are gone
    only_here = tf.ConfigProto(device_filters=[f"/job:ps/task:{config.task_index}"])
    with new_session(graph, target=server.target, config=only_here) as session:
        session.run(fingerprint.initializer)
        announce(f"{config.task} serving at {config.address}; waiting for {config.num_workers} worker(s)")
        finished = set()
        while len(finished) < config.num_workers:
            index = int(session.run(done))
            finished.add(index)
            announce(f"{config.task}: worker {index} done ({len(finished)} of {config.num_workers})")
    announce(f"{config.task}: every worker is done; stopping")


def _sync_replicas_class(tf):
    """``SyncReplicasOptimizer`` whose own ops ignore the caller's control dependencies.

    Its ``apply_gradients`` also builds the chief's init op, the local step's init op and the
    token ops.  Called, as usual, under ``control_dependencies(batch-norm updates)``, those ops
    came to depend on a training batch: the chief's initialisation then blocked for good on an
    input queue whose runners start only after it (the CIFAR-10 Hvass network in sync mode).
    The update it returns still waits for the caller's dependencies."""

    class SyncReplicas(tf.train.SyncReplicasOptimizer):
        def apply_gradients(self, grads_and_vars, global_step=None, name=None):
            with tf.control_dependencies(None):
                update = super().apply_gradients(grads_and_vars, global_step, name)
            return tf.group(update, name="sync_replicas_update")

    return SyncReplicas


class Worker:
    """One worker task: its server, its device placement, its optimizer wrapper and its session."""

    def __init__(self, config, cpu_devices=1, announce=print):
        check_port_free(config)   # the quick failures first
        wait_for(config, ps_tasks(config))
        self.config, self.announce = config, announce
        self.tf = _tf()
        self.server = start_server(config, cpu_devices)
        self.sync_optimizer = None
        self._extra = None

    @property
    def is_chief(self):
        return self.config.is_chief

    @property
    def device(self):
        return f"/job:worker/task:{self.config.task_index}"

    def device_setter(self):
        """Variables round-robin on the ps tasks, every other op on this worker."""
        return self.tf.train.replica_device_setter(worker_device=self.device,
                                                   cluster=self.tf.train.ClusterSpec(self.config.spec()))

    def optimizer(self, optimizer):
        """``optimizer`` itself (asynchronous updates) or wrapped in ``SyncReplicasOptimizer``."""
        if not self.config.sync:
            return optimizer
        if self.sync_optimizer is not None:
            raise ValueError("one SyncReplicasOptimizer per worker graph")
        self.sync_optimizer = _sync_replicas_class(self.tf)(
            optimizer, replicas_to_aggregate=self.config.replicas, total_num_replicas=self.config.num_workers)
        return self.sync_optimizer

    def optimizer_factory(self, factory):
        """``factory(rate) -> Optimizer`` wrapped the same way (for :func:`training.build_classifier`)."""
        return lambda rate: self.optimizer(factory(rate))

    def step_after(self, train_op, global_step):
        """The global step read after ``train_op``: the step count every worker agrees on.

        Also builds the ops the session needs (done tokens, fingerprint checks, sync tokens), so
        call it once the training graph is complete."""
        tf = self.tf
        with tf.device(self.device):
            with tf.control_dependencies([train_op]):
                after = tf.identity(global_step.read_value(), name="global_step_after_update")
        extra = {"done": [_done_queue(tf, self.config, i).enqueue(self.config.task_index)
                          for i in range(len(self.config.ps))],
                 "fingerprints": [_fingerprint_variable(tf, i).read_value() for i in range(len(self.config.ps))],
                 "local_init": tf.local_variables_initializer()}
        if not self.is_chief:
            extra["ready"] = tf.report_uninitialized_variables()
        opt = self.sync_optimizer
        if opt is not None:
            # built by apply_gradients for the non-chief's session; marked so the chief does not warn
            getattr(opt.ready_for_local_init_op, "mark_used", lambda: None)()
            extra.update(local_init=tf.group(extra["local_init"], opt.chief_init_op if self.is_chief
                                             else opt.local_step_init_op),
                         ready_for_local=opt.ready_for_local_init_op,
                         tokens=opt.get_init_tokens_op(),
                         release=opt.get_init_tokens_op(self.config.num_workers),
                         queue_runner=opt.get_chief_queue_runner())
        self._extra = extra
        return after

    def session_config(self, cpu_devices=1):
        tf = self.tf
        # Only the ps tasks and this worker: a session need not wait for the other workers.  The
        # operation timeout bounds every step: TF 1.15 waits forever on a ps that has died.
        return tf.ConfigProto(device_filters=["/job:ps", self.device], allow_soft_placement=True,
                              device_count={"CPU": max(1, int(cpu_devices))},
                              operation_timeout_in_ms=int(self.config.timeout * 1000))

    def session(self, checkpoints, resume, cpu_devices=1):
        """Context manager yielding ``(session, start_step)``; see :class:`_WorkerSession`."""
        if self._extra is None:
            raise ValueError("call step_after() once the graph is built, before session()")
        return _WorkerSession(self, checkpoints, resume, cpu_devices)


class _WorkerSession:
    """The chief initialises or restores the variables on the ps tasks; the others wait for it.

    On exit: the chief releases workers blocked on the sync token queue and stops its token
    thread quietly; every worker tells each ps it is done.  A lost ps becomes one line naming it.
    """

    def __init__(self, worker, checkpoints, resume, cpu_devices):
        self.worker, self.checkpoints, self.resume, self.cpu_devices = worker, checkpoints, resume, cpu_devices
        self.session, self.coordinator, self.threads = None, None, []

    def __enter__(self):
        tf, worker, config, extra = self.worker.tf, self.worker, self.worker.config, self.worker._extra
        try:
            self._check_fingerprints()
            restored = ""
            if worker.is_chief:
                self.session = new_session(target=worker.server.target, config=worker.session_config(self.cpu_devices))
                latest = self.checkpoints.latest() if self.resume else None
                start = self.checkpoints.start(self.session, self.resume)
                restored = f", restored from {os.path.basename(latest)}" if latest else ""
                self.session.run(extra["local_init"])
            else:
                manager = tf.train.SessionManager(
                    local_init_op=extra["local_init"], ready_op=extra["ready"],
                    ready_for_local_init_op=extra.get("ready_for_local"), recovery_wait_secs=0.5)
                self.session = manager.wait_for_session(worker.server.target, worker.session_config(self.cpu_devices),
                                                        max_wait_secs=config.timeout)
                if self.session is None:
                    raise ClusterError(f"{config.task} waited {config.timeout:g} s for the chief (worker 0 at "
                                       f"{config.workers[0]}) to initialise the variables; start it, or raise "
                                       "--cluster-timeout")
                start = int(self.session.run(tf.train.get_global_step()))
            if worker.sync_optimizer is not None and worker.is_chief:
                self.session.run(extra["tokens"])
                self.coordinator = tf.train.Coordinator(
                    clean_stop_exception_types=(tf.errors.OutOfRangeError, tf.errors.CancelledError))
                self.threads = extra["queue_runner"].create_threads(self.session, coord=self.coordinator,
                                                                    daemon=True, start=True)
        except tf.errors.OpError as exc:
            raise self._fail(exc) from None
        except BaseException:
            self._close()
            raise
        self.worker.announce(f"{config.task} joined the cluster at step {start}{restored}")
        return self.session, start

    def _check_fingerprints(self):
        """Every ps must have been started with this task's cluster spec."""
        tf, config, extra = self.worker.tf, self.worker.config, self.worker._extra
        # A ps started with another cluster spec keeps its state apart from this task's session, so
        # its fingerprint stays "uninitialized" here; a matching ps sets it within moments of starting.
        deadline = time.monotonic() + min(config.timeout, SPEC_WAIT)
        with new_session(target=self.worker.server.target, config=self.worker.session_config()) as probe:
            for index, fingerprint in enumerate(extra["fingerprints"]):
                while True:
                    try:
                        theirs = probe.run(fingerprint).decode()
                        break
                    except tf.errors.FailedPreconditionError:   # that ps has not set it yet
                        if time.monotonic() > deadline:
                            raise ClusterError(
                                f"{config.task} and ps {index} at {config.ps[index]} were started with "
                                "different cluster specs (or that is not a cnn_cookbook ps task); start "
                                "every task with the same --ps-hosts and --worker-hosts")
                        time.sleep(0.2)
                if theirs != config.fingerprint():
                    raise ClusterError(
                        f"{config.task} and ps {index} at {config.ps[index]} were started with different "
                        f"cluster specs: {_difference(config.fingerprint(), theirs)}; start every task with "
                        "the same --ps-hosts, --worker-hosts and --sync-replicas")

    def __exit__(self, kind, exc, tb):
        tf, extra = self.worker.tf, self.worker._extra
        if exc is None:
            try:
                if self.threads:
                    # one token per worker frees any worker blocked on the last step; only then stop
                    # the token thread (stopping closes the queue; what is in it can still be taken)
                    self.session.run(extra["release"])
                    self.coordinator.request_stop()
                self.session.run(extra["done"])
            except tf.errors.OpError as error:
                raise self._fail(error) from None
        if isinstance(exc, tf.errors.OpError):
            raise self._fail(exc) from None
        self._close()
        return False

    def _fail(self, exc):
        """Close after ``exc``; returns the one-line error to raise in its place."""
        error = self._translate(exc)
        self._close(failed=True)
        return error

    def _close(self, failed=False):
        if self.coordinator is not None:
            self.coordinator.request_stop()
        if self.session is not None:
            if failed:
                # After a failed step, closing talks to every task and can wait on one that is gone
                # or wedged: on TF 2.21 a worker was seen blocked for good in CloseSession after its
                # ps died.  Give it moments, not forever; the process is about to exit anyway.
                closer = threading.Thread(target=self.session.close, daemon=True)
                closer.start()
                closer.join(2.0)
            else:
                self.session.close()   # cancels the token thread's pending step (a clean stop for it)
        if self.coordinator is not None:
            self.coordinator.join(self.threads, stop_grace_period_secs=5, ignore_live_threads=True)
        self.session = None

    def _translate(self, exc):
        config = self.worker.config
        lost = lost_tasks(config)
        deadline = time.monotonic() + LOSS_WAIT
        while not lost and time.monotonic() < deadline:
            # a failed step may come a moment before the dying task's port stops answering
            time.sleep(0.25)
            lost = lost_tasks(config)
        if lost:
            job, index, address = lost[0]
            latest = self.checkpoints.latest() if self.checkpoints is not None else None
            resume = (f"; start the cluster again with --resume to continue from {latest}" if latest
                      else "; start the cluster again (no checkpoint had been written)")
            return ClusterError(f"{config.task} lost {job} {index} at {address} "
                                f"({type(exc).__name__}){resume}")
        if isinstance(exc, self.worker.tf.errors.DeadlineExceededError):
            return ClusterError(f"{config.task}: a step waited more than {config.timeout:g} s (--cluster-timeout) "
                                "for the other tasks; check that every task is running")
        # any other failure in a cluster session (a restarted chief, a ps that came back empty): one
        # line with TensorFlow's own first line, not a traceback
        return ClusterError(f"{config.task}: TensorFlow failed ({type(exc).__name__}: {first_line(exc, 200)}); "
                            "start the cluster again with --resume to continue from the last checkpoint")


def _difference(mine, theirs):
    try:
        a, b = json.loads(mine), json.loads(theirs)
    except ValueError:
        return f"theirs is {theirs!r}"
    for key in ("cluster", "sync", "replicas"):
        if a.get(key) != b.get(key):
            return f"{key} {a.get(key)} here, {b.get(key)} there"
    return "unknown difference"

