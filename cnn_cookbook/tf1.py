"""The one place TensorFlow is imported: ``tensorflow.compat.v1`` with v2 behaviour off.

Every graph-building module does ``from cnn_cookbook.tf1 import tf``.  Importing this module
switches TensorFlow to graph mode for the process (that is its purpose); it builds no graph.

Also here: session configuration (device choice, GPU memory growth, logical CPU devices) and
seeding, shared by every recipe.
"""

import os
import random

# TensorFlow's C++ log stays off the console unless asked for (CNN_COOKBOOK_TF_LOGS=1, or the
# user's own TF_CPP_MIN_LOG_LEVEL): at level 2 it still prints notices such as "E0000 ... oneDNN
# supports DT_UINT8 only on platforms with AVX-512", which read as errors but only say that a
# faster kernel is not available.  Real failures still arrive as Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if os.environ.get("CNN_COOKBOOK_TF_LOGS") == "1" else "3")

import numpy as np  # noqa: E402

from cnn_cookbook.errors import CookbookError  # noqa: E402

SUPPORTED_TENSORFLOW = "TensorFlow 1.15 (on Python 3.7) or TensorFlow 2.x (used through tensorflow.compat.v1)"


def check_tensorflow_version(version):
    """Refuse TensorFlow older than 1.15: before it, ``tf.compat.v1`` is missing or incomplete."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        raise CookbookError(f"cannot read the TensorFlow version {version!r}; this library "
                            f"supports {SUPPORTED_TENSORFLOW}") from None
    if (major, minor) < (1, 15):
        raise CookbookError(f"TensorFlow {version} is too old; this library supports "
                            f"{SUPPORTED_TENSORFLOW}: pip install -r requirements.txt (Python >= 3.10) "
                            "or -r requirements-tf1.txt (Python 3.7)")
    return major, minor


def _import_compat_v1():
    """``tensorflow.compat.v1``, after checking that the installed TensorFlow is one we support."""
    try:
        import tensorflow
    except ImportError as exc:
        raise CookbookError(f"TensorFlow is not installed ({exc}); this library supports "
                            f"{SUPPORTED_TENSORFLOW}: pip install -r requirements.txt "
                            "(or requirements-tf1.txt on Python 3.7)") from None
    check_tensorflow_version(getattr(tensorflow, "__version__", "unknown"))
    try:
        import tensorflow.compat.v1 as tf_v1
    except ImportError:
        raise CookbookError(f"this TensorFlow ({tensorflow.__version__}) has no tensorflow.compat.v1; "
                            f"this library supports {SUPPORTED_TENSORFLOW}") from None
    return tf_v1


def _import_tensorflow_quietly():
    """Import TensorFlow with the C++ start-up banner ("oneDNN custom operations are on", absl's
    pre-init notice) kept off stderr: TF_CPP_MIN_LOG_LEVEL no longer silences those, and a recipe's
    stderr should carry only its own messages.  Python exceptions still propagate; set
    CNN_COOKBOOK_TF_LOGS=1 to see everything."""
    if os.environ.get("CNN_COOKBOOK_TF_LOGS") == "1":
        return _import_compat_v1()
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            tf_v1 = _import_compat_v1()
            tf_v1.constant(0)  # loads the kernels that print the banner, still silenced
            if tf_v1.VERSION.startswith("1."):
                # tensorflow-gpu 1.15 probes CUDA once, at the first device listing, and on a
                # machine without a GPU logs "E ... failed call to cuInit" as if it were an
                # error; probe now, while stderr is still silenced (2.x prints nothing there).
                tf_v1.config.experimental.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return tf_v1


tf = _import_tensorflow_quietly()

tf.get_logger().setLevel("ERROR")  # before the switch, which logs deprecation notices
tf.disable_v2_behavior()

DEVICES = ("auto", "cpu", "gpu")


def is_registered_op(op_type):
    """Whether this TensorFlow knows the op ``op_type`` (a GraphDef naming another cannot be
    imported).  TF 2.x asks the registry per name; 1.15 only lists all registered ops."""
    from tensorflow.python.framework import op_def_registry

    if hasattr(op_def_registry, "get"):
        return op_def_registry.get(op_type) is not None
    return op_type in op_def_registry.get_registered_ops()


def visible_gpus():
    """Names of the GPUs TensorFlow can see in this process (empty on a CPU-only machine)."""
    return [d.name for d in tf.config.experimental.list_physical_devices("GPU")]


def resolve_device(device):
    """Turn ``auto|cpu|gpu`` into ``cpu`` or ``gpu``; ``gpu`` without a GPU is an error."""
    if device not in DEVICES:
        raise CookbookError(f"the device must be one of {', '.join(DEVICES)}, not {device!r}", field="device")
    gpus = visible_gpus()
    if device == "gpu" and not gpus:
        raise CookbookError(
            "a GPU was asked for but TensorFlow sees no GPU; install tensorflow[and-cuda] "
            "and check nvidia-smi, or run on the CPU", field="device")
    if device == "auto":
        return "gpu" if gpus else "cpu"
    return device


def session_config(device="auto", cpu_devices=1):
    """A ConfigProto for ``device`` (auto|cpu|gpu).

    GPU memory grows on demand instead of being grabbed whole.  ``cpu_devices`` > 1 splits the
    CPU into that many logical devices (``/cpu:0`` ... ), which is how the multi-tower code is
    exercised on a machine without GPUs.
    """
    resolved = resolve_device(device)
    device_count = {"CPU": max(1, int(cpu_devices))}
    if resolved == "cpu":
        device_count["GPU"] = 0
    # --log-device-placement (cnn_cookbook.cli.apply_log_device_placement) reaches every Session
    log_placement = os.environ.get("CNN_COOKBOOK_LOG_DEVICE_PLACEMENT") == "1"
    config = tf.ConfigProto(device_count=device_count, allow_soft_placement=True,
                            log_device_placement=log_placement)
    config.gpu_options.allow_growth = True
    return config


def seed_everything(seed):
    """Seed Python, NumPy and TensorFlow's graph-level RNG; call after creating the graph.

    TensorFlow's CPU kernels are deterministic once every random op is seeded, so a seeded CPU
    run repeats exactly.  (``enable_op_determinism`` is not used: it is process-wide and makes
    every later unseeded graph fail, which a notebook or test session would trip over.)
    Returns a ``numpy.random.Generator`` for the caller's own sampling.
    """
    if seed is None:
        return np.random.default_rng()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    tf.set_random_seed(seed)
    return np.random.default_rng(seed)


def new_session(graph=None, device="auto", cpu_devices=1, target="", config=None):
    """A Session on ``graph`` with :func:`session_config`; the caller closes it.

    Every Session the package opens itself is opened here (a non-chief cluster worker gets its
    own from TensorFlow's ``SessionManager``, which waits for the chief).  ``target`` and
    ``config``: a cluster task's server and its ConfigProto (:mod:`cnn_cookbook.cluster`).
    """
    return tf.Session(target, graph=graph, config=config if config is not None else session_config(device, cpu_devices))


def device_name(device="auto"):
    """The TensorFlow device string for ops pinned to the chosen device."""
    return "/gpu:0" if resolve_device(device) == "gpu" else "/cpu:0"


def new_server(cluster_spec, job_name, task_index, config=None):
    """A started ``tf.train.Server``.  On TF 1.15 its ``__del__`` fails at interpreter exit (its
    error module is already gone) and prints a traceback; it cannot stop a gRPC server there
    anyway, so that finaliser is made a no-op once the interpreter starts exiting."""
    if tf.VERSION.startswith("1."):
        import atexit

        atexit.register(_quiet_server_finaliser)
    return tf.train.Server(cluster_spec, job_name=job_name, task_index=task_index, config=config, start=True)


def _quiet_server_finaliser():
    tf.train.Server.__del__ = lambda self: None
