"""Data parallelism with towers, the design of TensorFlow's cifar10_multi_gpu_train.py.

The batch is split into ``N`` equal parts; each part runs through its own copy of the network
("tower") on its own device, all towers sharing one set of variables kept on the CPU.  Each
tower computes its gradients; their average is applied once, so a step on N devices makes the
same update as one device on the whole batch (the mean loss of equal parts is the mean loss of
the whole).

On a machine without GPUs the towers go to logical CPU devices (``/cpu:0``..``/cpu:N-1``, made
by :func:`cnn_cookbook.tf1.session_config` with ``cpu_devices=N``), which is how the tests run it.
"""

from collections import namedtuple

from cnn_cookbook.errors import CookbookError
from cnn_cookbook.training import classification_heads
from cnn_cookbook.tf1 import tf

Towers = namedtuple("Towers", [
    "train_op",       # one averaged-gradient update; increments global_step
    "loss",           # mean of the towers' losses (= the loss of the whole batch)
    "accuracy",       # fraction correct over the whole batch, 0..1
    "global_step",
    "learning_rate",
    "tower_losses",   # list, one per tower
])

_VARIABLE_OPS = {"Variable", "VariableV2", "VarHandleOp", "AutoReloadVariable"}


def tower_devices(num_devices, device_type="cpu"):
    """``['/gpu:0', '/gpu:1', ...]`` or ``['/cpu:0', ...]``."""
    if num_devices < 1:
        raise CookbookError(f"the towers need at least 1 device, not {num_devices}", field="num_devices")
    return [f"/{device_type}:{i}" for i in range(num_devices)]


def variables_on_cpu(device):
    """A device function: variables on ``/cpu:0``, every other op on ``device``."""
    def choose(op):
        return "/cpu:0" if op.type in _VARIABLE_OPS else device
    return choose


def average_gradients(tower_grads):
    """[[(grad, var), ...] per tower] -> [(mean grad, var), ...]; variables without a gradient
    in the first tower are left out."""
    averaged = []
    for pairs in zip(*tower_grads):
        grads = [g for g, _ in pairs if g is not None]
        if not grads:
            continue
        mean = grads[0] if len(grads) == 1 else tf.add_n(grads) / float(len(grads))
        averaged.append((mean, pairs[0][1]))
    return averaged


def build_towers(network, images, labels, optimizer, num_devices=1, device_type="cpu",
                 global_step=None, learning_rate=None):
    """One tower per device over a split batch; returns a :class:`Towers`.

    ``network(images) -> logits`` builds (or reuses, by variable scope) the model in training
    mode.  ``images`` [B, ...] and ``labels`` [B] are one batch, B divisible by ``num_devices``.
    ``optimizer`` is a ``tf.train.Optimizer``.  Batch-norm moving averages are updated from the
    first tower's statistics (as tensorflow/models' cifar10 multi-GPU trainer does), before the gradients are applied.
    """
    devices = tower_devices(num_devices, device_type)
    batch = images.get_shape().as_list()[0]
    if batch is not None and batch % num_devices:
        raise CookbookError(f"the batch of {batch} images cannot be split evenly over {num_devices} "
                            "devices; choose a batch size divisible by the number of devices",
                            field=("batch_size", "num_devices"))
    global_step = global_step if global_step is not None else tf.train.get_or_create_global_step()
    image_parts = tf.split(images, num_devices) if num_devices > 1 else [images]
    label_parts = tf.split(labels, num_devices) if num_devices > 1 else [labels]
    tower_grads, losses, correct = [], [], []
    update_ops = []
    for i, device in enumerate(devices):
        with tf.device(variables_on_cpu(device)), tf.name_scope(f"tower_{i}") as scope:
            logits = network(image_parts[i])
            loss, _, predictions, _ = classification_heads(logits, label_parts[i])
            losses.append(loss)
            correct.append(tf.cast(tf.equal(predictions, label_parts[i]), tf.float32))
            tower_grads.append(optimizer.compute_gradients(loss))
            if i == 0:
                update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS, scope)
    with tf.device("/cpu:0"), tf.name_scope("average"):
        grads = average_gradients(tower_grads)
        mean_loss = tf.add_n(losses) / float(len(losses)) if len(losses) > 1 else losses[0]
        accuracy = tf.reduce_mean(tf.concat(correct, 0), name="accuracy")
        with tf.control_dependencies(update_ops):
            train_op = optimizer.apply_gradients(grads, global_step=global_step)
    return Towers(train_op, mean_loss, accuracy, global_step, learning_rate, losses)
