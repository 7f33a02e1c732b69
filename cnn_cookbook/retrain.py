"""Transfer learning on a frozen Inception v3: TensorFlow's retrain.py and Hvass #08/#09.

The chapter, :func:`retrain_on_folders` (the recipe's ``retrain``), in four stages:

1. the frozen graph and its bottleneck values, computed once per image and cached on disk
   (:mod:`cnn_cookbook.bottlenecks`: :func:`~cnn_cookbook.bottlenecks.open_transfer_session`,
   :func:`~cnn_cookbook.bottlenecks.cache_bottlenecks`);
2. :func:`build_top_layer` adds the new softmax layer (optionally a ReLU hidden layer first, as
   Hvass #08's fc-1024) on a bottleneck placeholder; :func:`train_top_layer` trains it with
   :func:`cnn_cookbook.training.fit` on random batches of cached bottlenecks (retrain.py's
   defaults: plain gradient descent, learning rate 0.01, 4000 steps, batch 100, a validation
   batch of 100 every 10 steps) and reports the final test accuracy over the whole test set.
   With distortions (random crop, scale, flip, brightness) training images are decoded,
   distorted and run through the graph at every step, bypassing the cache;
3. :func:`export_retrained_graph` writes a frozen graph: the base graph plus the new layer
   (``final_result:0``, fed from ``pool_3/_reshape`` or from ``BottleneckInputPlaceholder:0``),
   with the labels file beside it;
4. :func:`load_retrained` + :func:`predict_images` classify images with that file alone.

The split into training/validation/testing is retrain.py's stable file-name hash
(:func:`cnn_cookbook.datasets.folders.split_for`).  Batches are drawn uniformly over all
training images (retrain.py first draws a class, which over-samples small classes).
"""

import contextlib
import io
import time
from collections import namedtuple
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnn_cookbook import plots, run_folder, summaries
from cnn_cookbook.bottlenecks import (NO_DISTORTIONS, BottleneckSet, cache_bottlenecks, check_distortions,
                                      open_transfer_session, wants_distortions)
from cnn_cookbook.datasets.folders import SPLITS, list_class_folders, read_labels_file, split_image_lists, \
    write_labels_file
from cnn_cookbook.errors import CookbookError, DataFormatError
from cnn_cookbook.fileio import ensure_dir, write_bytes_atomic
from cnn_cookbook.io.images import UnreadableImage, read_image_rgb
from cnn_cookbook.nets import inception_v3 as iv3
from cnn_cookbook.results import ChapterRun
from cnn_cookbook.serving import export_retrained
from cnn_cookbook.tf1 import new_session, tf
from cnn_cookbook.training import classification_heads, fit, make_optimizer

# ---------------------------------------------------------------------------------------------
# The new top layer


TopLayer = namedtuple("TopLayer", [
    "bottleneck_input",  # placeholder float32 [None, 2048]
    "labels",            # placeholder int32 [None], class index 0..num_classes-1
    "logits", "probabilities", "predictions", "loss", "accuracy", "train_op", "global_step",
])

def build_top_layer(num_classes, hidden_units=0, learning_rate=0.01, optimizer="sgd",
                    bottleneck_size=iv3.BOTTLENECK_SIZE):
    """Placeholders, the new layer, loss and training op in the default graph: a :class:`TopLayer`.

    ``optimizer``: a name of :data:`cnn_cookbook.training.OPTIMIZERS` (retrain.py: sgd; Hvass #08: adam).
    """
    optimizer = make_optimizer(optimizer, learning_rate)  # an unknown name stops before the graph grows
    if hidden_units < 0:
        raise CookbookError(f"the hidden layer's size must be >= 0 (0: no hidden layer), not {hidden_units}",
                            field="hidden_units")
    bottleneck_input = tf.placeholder(tf.float32, [None, bottleneck_size], name="BottleneckInputPlaceholder")
    labels = tf.placeholder(tf.int32, [None], name="GroundTruthInput")
    logits = iv3.top_layer_logits(bottleneck_input, num_classes, hidden_units)
    loss, probabilities, predictions, accuracy = classification_heads(logits, labels)
    global_step = tf.train.get_or_create_global_step()
    train_op = optimizer.minimize(loss, global_step=global_step)
    return TopLayer(bottleneck_input, labels, logits, probabilities, predictions, loss, accuracy,
                    train_op, global_step)


@dataclass
class RetrainResult:
    history: object               # training.History
    test_accuracy: float          # over the whole test set, 0..1 (nan when it is empty)
    test_probabilities: np.ndarray  # [N_test, num_classes], from the training session
    weights: dict                 # variable name -> trained value (for export)
    train_seconds: float
    steps: int
    distortion_seconds: float = 0.0


def _accuracy(probabilities, labels):
    return float(np.mean(np.argmax(probabilities, axis=1) == labels)) if len(labels) else float("nan")


def train_top_layer(sets, num_classes, *, steps=4000, learning_rate=0.01, train_batch_size=100,
                    validation_batch_size=100, eval_every=10, hidden_units=0, optimizer="sgd", seed=0,
                    device="auto", transfer_session=None, distorted_training=None, progress=True,
                    describe_every=None, summaries_dir=None, histogram_every=0):
    """Train the new layer on cached bottlenecks; returns a :class:`RetrainResult`.

    Settings by keyword only, with the names :func:`retrain_on_folders` gives them.

    ``sets``: split -> :class:`BottleneckSet`.  ``validation_batch_size`` -1 evaluates the whole
    validation set.  With ``distorted_training`` = (image Paths, labels), each step decodes and
    distorts a batch through ``transfer_session`` instead of reading ``sets['training']``.
    With ``summaries_dir``, TensorBoard events as retrain.py's ``--summaries_dir``: ``train/``
    (loss = cross entropy, accuracy) and ``validation/`` (accuracy), and with ``histogram_every``
    histograms of the new layer's weights and logits.
    """
    rng = np.random.default_rng(seed)
    train, validation, test = sets["training"], sets["validation"], sets["testing"]
    pool_size = len(distorted_training[0]) if distorted_training else len(train.labels)
    if pool_size == 0:
        raise CookbookError("no training images left (all unreadable?); check the image folder")
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        top = build_top_layer(num_classes, hidden_units, learning_rate, optimizer)
        init = tf.global_variables_initializer()
        variables = tf.global_variables(iv3.TOP_LAYER_SCOPE)
        if histogram_every:
            summaries.add_histograms({"final_logits": top.logits})
        writers = summaries.RunWriters(summaries_dir, graph, histogram_every) if summaries_dir else None
    session = new_session(graph, device)
    distortion_seconds = [0.0]

    def feed():
        index = rng.integers(0, pool_size, train_batch_size)
        if distorted_training is None:
            return {top.bottleneck_input: train.values[index], top.labels: train.labels[index]}
        began = time.perf_counter()
        paths, labels = distorted_training
        ts = transfer_session
        resized = np.stack([ts.session.run(ts.distort.distorted, {ts.distort.image: read_image_rgb(paths[i])})
                            for i in index])
        values = iv3.resized_transfer_values(ts.session, ts.transfer, resized)
        distortion_seconds[0] += time.perf_counter() - began
        return {top.bottleneck_input: values, top.labels: np.asarray(labels)[index]}

    def evaluate(sess):
        if not len(validation.labels):
            return {}
        if validation_batch_size == -1 or validation_batch_size >= len(validation.labels):
            index = np.arange(len(validation.labels))
        else:
            index = rng.integers(0, len(validation.labels), validation_batch_size)
        accuracy = sess.run(top.accuracy, {top.bottleneck_input: validation.values[index],
                                           top.labels: validation.labels[index]})
        return {"validation_accuracy": accuracy}

    every = describe_every or max(eval_every, (steps // 10) // eval_every * eval_every)

    def describe(step, values, results):
        if step % every == 0 or step == steps:
            text = f"step {step}: train accuracy {values['accuracy']:.1%}, cross entropy {values['loss']:.4f}"
            if "validation_accuracy" in results:
                text += f", validation accuracy {results['validation_accuracy']:.1%}"
            return text
        return None

    with session, contextlib.ExitStack() as stack:
        if writers is not None:
            stack.enter_context(writers)
        session.run(init)
        result = fit(session, top, steps, feed=feed, evaluate=evaluate, eval_every=eval_every,
                     progress=progress, describe=describe, summary_writer=writers)
        test_probabilities = (session.run(top.probabilities, {top.bottleneck_input: test.values})
                              if len(test.labels) else np.zeros((0, num_classes), np.float32))
        weights = {v.op.name: value for v, value in zip(variables, session.run(variables))}
    return RetrainResult(result.history, _accuracy(test_probabilities, test.labels), test_probabilities,
                         weights, result.train_seconds, result.final_step, distortion_seconds[0])


# ---------------------------------------------------------------------------------------------
# Export and prediction

FINAL_RESULT = "final_result:0"
BOTTLENECK_INPUT = "BottleneckInputPlaceholder:0"


def final_tensor(final_tensor_name="final_result"):
    """The exported graph's output tensor name for ``--final-tensor-name`` (retrain.py's flag)."""
    return final_tensor_name if ":" in final_tensor_name else f"{final_tensor_name}:0"


def export_retrained_graph(base_graph_def, weights, class_names, graph_path, labels_path, hidden_units=0,
                           final_tensor_name="final_result"):
    """Write the base graph + trained layer as one frozen GraphDef, and the labels file.

    ``final_result:0`` (``final_tensor_name``) [N, num_classes] reads
    ``BottleneckInputPlaceholder:0`` [N, 2048], which defaults to the graph's own
    ``pool_3/_reshape:0`` (so a JPEG fed to ``DecodeJpeg/contents:0`` is classified end to end).
    A stand-in base keeps its marker.  Returns ``graph_path``.
    """
    final_name = final_tensor(final_tensor_name).split(":")[0]
    graph = tf.Graph()
    with graph.as_default():
        iv3.import_inception(base_graph_def)
        bottleneck = tf.placeholder_with_default(graph.get_tensor_by_name(iv3.BOTTLENECK_FLAT),
                                                 [None, iv3.BOTTLENECK_SIZE], name="BottleneckInputPlaceholder")
        tf.nn.softmax(iv3.top_layer_logits(bottleneck, len(class_names), hidden_units), name=final_name)
        outputs = [final_name] + ([iv3.STAND_IN_MARKER] if iv3.is_stand_in(base_graph_def) else [])
        with new_session(graph) as session:
            for variable in tf.global_variables():
                variable.load(weights[variable.op.name], session)
            frozen = tf.graph_util.convert_variables_to_constants(session, graph.as_graph_def(), outputs)
    write_bytes_atomic(graph_path, frozen.SerializeToString())
    write_labels_file(labels_path, class_names)
    return Path(graph_path)


def load_retrained(graph_path, labels_path, final_tensor_name="final_result"):
    """(GraphDef, class names) of an exported graph, checked against each other."""
    graph_def = iv3.load_inception_graph_def(graph_path)
    final = final_tensor(final_tensor_name)
    node = next((n for n in graph_def.node if n.name == final.split(":")[0]), None)
    if node is None:
        raise DataFormatError(f"{graph_path} has no {final.split(':')[0]} node: it is not a graph exported by "
                              "'retrain' (with this --final-tensor-name); give the output_graph.pb that "
                              "'retrain' wrote")
    class_names = read_labels_file(labels_path)
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
        outputs = graph.get_tensor_by_name(final).get_shape().as_list()[-1]
    if outputs != len(class_names):
        raise CookbookError(f"labels file {labels_path} names {len(class_names)} classes but {graph_path} "
                            f"predicts {outputs}; give the labels file written with that graph")
    return graph_def, class_names


def retrained_probabilities(transfer_session, images, batch_size=32, final_tensor_name="final_result"):
    """Class probabilities [N, num_classes] of an exported graph for uint8 RGB images."""
    ts = transfer_session
    values = iv3.transfer_values(ts.session, ts.transfer, images, batch_size=batch_size)
    return ts.session.run(ts.session.graph.get_tensor_by_name(final_tensor(final_tensor_name)),
                          {ts.session.graph.get_tensor_by_name(BOTTLENECK_INPUT): values})


def predict_images(transfer_session, class_names, image_paths, top_k=5, batch_size=32,
                   final_tensor_name="final_result"):
    """Top-k (class name, probability) per image file, best first; a missing/unreadable file is an error."""
    images = [read_image_rgb(path) for path in image_paths]
    probabilities = retrained_probabilities(transfer_session, images, batch_size, final_tensor_name)
    top_k = min(top_k, len(class_names))
    return [[(class_names[i], float(row[i])) for i in np.argsort(row)[::-1][:top_k]] for row in probabilities]


def save_outputs(output_dir, base_graph_def, result, class_names, hidden_units, output_graph=None,
                 output_labels=None, final_tensor_name="final_result"):
    """Write output_graph.pb and output_labels.txt (into ``output_dir`` unless ``output_graph`` /
    ``output_labels`` name other files); returns their paths."""
    output_dir = ensure_dir(output_dir)
    graph_path = Path(output_graph) if output_graph else output_dir / "output_graph.pb"
    labels_path = Path(output_labels) if output_labels else output_dir / "output_labels.txt"
    for path in (graph_path, labels_path):
        ensure_dir(path.parent)
    export_retrained_graph(base_graph_def, result.weights, class_names, graph_path, labels_path, hidden_units,
                           final_tensor_name)
    return graph_path, labels_path


# ---------------------------------------------------------------------------------------------
# The whole chapter on one class-folder data set (what the recipe's 'retrain' runs)


def _distorted_training(lists, class_names, stats):
    """(image Paths, labels int32) of the training split, each image decoded once to check it;
    the unreadable ones go into ``stats.unreadable``."""
    paths, labels = [], []
    for label, name in enumerate(class_names):
        for path in lists[name]["training"]:
            try:
                read_image_rgb(path)
            except UnreadableImage:
                stats.unreadable.append(path)
                continue
            paths.append(path)
            labels.append(label)
    return paths, np.asarray(labels, np.int32)


def _announce_cache(stats, cache_dir, announce):
    announce(f"bottlenecks: {stats.cached} from cache, {stats.computed} computed "
             f"({stats.recomputed} corrupt cache files redone), {len(stats.unreadable)} unreadable "
             f"images skipped; cache {cache_dir}")
    if stats.unreadable:  # corrupt, not images, or over the pixel limit (--max-pixels)
        shown = ", ".join(str(p) for p in stats.unreadable[:10])
        more = f" and {len(stats.unreadable) - 10} more" if len(stats.unreadable) > 10 else ""
        announce(f"skipped (unreadable or too large): {shown}{more}")


def retrain_on_folders(image_dir, graph_files, output_dir, *, bottleneck_dir=None, steps=4000,
                       learning_rate=0.01, train_batch_size=100, validation_batch_size=100, eval_every=10,
                       testing_percentage=10, validation_percentage=10, hidden_units=0, optimizer="sgd",
                       distortions=NO_DISTORTIONS, bottleneck_mode="auto", bottleneck_batch_size=32,
                       seed=0, device="auto", progress=True, announce=print, export_savedmodel=None,
                       summaries_dir=None, histogram_every=0, output_graph=None, output_labels=None,
                       final_tensor_name="final_result"):
    """The chapter: split, cache bottlenecks, train the new layer, test, export; returns a
    :class:`~cnn_cookbook.results.ChapterRun`.  Settings by keyword only.

    ``graph_files``: :class:`cnn_cookbook.nets.inception_v3.InceptionFiles`.  The run holds
    ``output_dir`` (an earlier run there is moved aside first, the bottleneck cache stays) and
    writes there (bottlenecks under ``bottleneck_dir``, default ``output_dir/bottlenecks``;
    TensorBoard events under ``summaries_dir``, default ``output_dir/tensorboard``; the graph and
    labels at ``output_graph`` / ``output_labels``, default ``output_dir/output_graph.pb`` and
    ``output_labels.txt``, its output tensor named ``final_tensor_name``; with
    ``export_savedmodel`` also a SavedModel there, :func:`cnn_cookbook.serving.export_retrained`).
    Metrics, history and figures are returned, not written.  ``paths``: graph, labels,
    bottlenecks, tensorboard (and savedmodel); ``outputs``: ``result`` (:class:`RetrainResult`),
    ``sets`` (split -> :class:`~cnn_cookbook.bottlenecks.BottleneckSet`), ``class_names``.
    ``announce`` gets one-line progress messages.
    """
    if hidden_units < 0:  # checked before any bottleneck is computed
        raise CookbookError(f"the hidden layer's size must be >= 0 (0: no hidden layer), not {hidden_units}",
                            field="hidden_units")
    check_distortions(distortions)
    make_optimizer(optimizer, learning_rate)  # an unknown name, too
    with run_folder.claim(output_dir) as output_dir:  # checked settings first: bad ones create nothing
        graph_def = iv3.load_inception_graph_def(graph_files.graph_path)
        stand_in = iv3.is_stand_in(graph_def)
        tag = f" [{iv3.STAND_IN_LABEL}]" if stand_in else ""
        folders = list_class_folders(image_dir)
        lists = split_image_lists(folders, validation_percentage, testing_percentage)
        run_folder.keep_earlier_run(output_dir, announce=announce, summaries_dir=summaries_dir)
        summaries_dir = summaries.events_folder(output_dir, summaries_dir)
        if folders.empty_classes:
            announce(f"skipped {len(folders.empty_classes)} empty class folder(s): {', '.join(folders.empty_classes)}")
        names = folders.class_names
        distort = wants_distortions(distortions)
        cache_dir = Path(bottleneck_dir or output_dir / "bottlenecks") / iv3.graph_fingerprint(graph_files.graph_path)
        ts = open_transfer_session(graph_def, bottleneck_mode, device, distortions if distort else None, seed)
        try:
            announce(f"model: {iv3.model_name(stand_in)}{tag} from {graph_files.graph_path}; "
                     f"transfer values computed in '{ts.mode}' mode")
            splits = ("validation", "testing") if distort else SPLITS
            sets, stats = cache_bottlenecks(ts, lists, names, cache_dir, splits, bottleneck_batch_size, progress)
            distorted = None
            if distort:
                distorted = _distorted_training(lists, names, stats)
                sets["training"] = BottleneckSet(np.zeros((0, iv3.BOTTLENECK_SIZE), np.float32), distorted[1],
                                                 distorted[0])
            _announce_cache(stats, cache_dir, announce)
            result = train_top_layer(sets, len(names), steps=steps, learning_rate=learning_rate,
                                     train_batch_size=train_batch_size, validation_batch_size=validation_batch_size,
                                     eval_every=eval_every, hidden_units=hidden_units, optimizer=optimizer, seed=seed,
                                     device=device, transfer_session=ts, distorted_training=distorted,
                                     progress=progress, summaries_dir=summaries_dir, histogram_every=histogram_every)
        finally:
            ts.session.close()
        graph_path, labels_path = save_outputs(output_dir, graph_def, result, names, hidden_units, output_graph,
                                               output_labels, final_tensor_name)
        paths = {"graph": graph_path, "labels": labels_path, "bottlenecks": cache_dir, "tensorboard": summaries_dir}
        if export_savedmodel:
            export_savedmodel = paths["savedmodel"] = export_retrained(graph_def, result.weights, names,
                                                                       export_savedmodel, hidden_units, ts.mode, device)
        evals = result.history.evals
        test = sets["testing"]
        metrics = {
            "model": iv3.model_name(stand_in),
            "note": (f"{iv3.STAND_IN_LABEL}: accuracy says the pipeline works, not how well Inception v3 "
                     "transfers" if stand_in else "Inception v3 (inception-2015-12-05)"),
            "graph": str(graph_files.graph_path),
            "image_dir": str(image_dir),
            "classes": names,
            "empty_classes": folders.empty_classes,
            "images": {split: len(sets[split].labels) for split in SPLITS},
            "test_accuracy": result.test_accuracy,
            "test_examples": len(test.labels),
            "final_validation_accuracy": next((v for v in reversed(evals.get("validation_accuracy", []))
                                               if v is not None), None),
            "steps": result.steps,
            "learning_rate": learning_rate,
            "optimizer": optimizer,
            "hidden_units": hidden_units,
            "train_batch_size": train_batch_size,
            "distortions": distortions._asdict() if distort else None,
            "transfer_mode": ts.mode,
            "bottlenecks": stats.as_dict(),
            "unreadable_images": [str(p) for p in stats.unreadable],
            "train_seconds": round(result.train_seconds, 3),
            "output_graph": str(graph_path),
            "output_labels": str(labels_path),
            "savedmodel": str(export_savedmodel) if export_savedmodel else None,
            "final_tensor_name": final_tensor(final_tensor_name),
        }
        title = " (STAND-IN graph, random weights)" if stand_in else " (Inception v3)"
        figures = {"accuracy": plots.accuracy_curves(result.history, title="New top layer: accuracy" + title)}
        if len(test.labels):
            figures["confusion_matrix"] = plots.confusion_matrix(
                test.labels, np.argmax(result.test_probabilities, axis=1), names,
                title="Confusion matrix (test set)" + title)
        figures.update(transfer_value_figures(sets, names, seed, title))
        return ChapterRun(metrics, figures, history=result.history, paths=paths,
                          outputs={"result": result, "sets": sets, "class_names": names})


def transfer_value_figures(sets, class_names, seed=0, title="", limit=500):
    """Hvass #08: PCA and t-SNE scatter plots of the cached transfer values (every split, at most
    ``limit`` images drawn at random).  Empty when there are fewer than 5 values."""
    values = np.concatenate([sets[s].values for s in SPLITS if s in sets and len(sets[s].values)] or
                            [np.zeros((0, iv3.BOTTLENECK_SIZE), np.float32)])
    labels = np.concatenate([sets[s].labels for s in SPLITS if s in sets and len(sets[s].values)] or
                            [np.zeros((0,), np.int32)])
    if len(values) < 5:
        return {}
    if len(values) > limit:
        keep = np.random.default_rng(seed).choice(len(values), limit, replace=False)
        values, labels = values[keep], labels[keep]
    return {f"transfer_values_{method}": plots.transfer_values_scatter(
                plots.reduce_to_2d(values, method, seed), labels, class_names,
                title=f"Transfer values, {name}{title}")
            for method, name in (("pca", "PCA"), ("tsne", "t-SNE"))}


# ---------------------------------------------------------------------------------------------
# Classifying image files (the recipe's 'classify' and 'predict')


def _top_rows(images, tops):
    """predictions.json's rows: each image with its (label, score) pairs, best first."""
    return [{"image": str(image), "top": [{"label": label, "score": float(score)} for label, score in top]}
            for image, top in zip(images, tops)]


def classify_images(images=(), *, model="auto", graph_file=None, models_dir=None, download=False, top_k=10,
                    transfer_values_path=None, bottleneck_mode="auto", device="auto"):
    """Hvass #07: the top-``top_k`` ImageNet labels of image files through the frozen graph, in a
    Graph and Session of its own; returns a :class:`~cnn_cookbook.results.ChapterRun`.

    ``images``: file paths (default: the archive's cropped_panda.jpg; the stand-in has none).
    The graph is found as :func:`cnn_cookbook.nets.inception_v3.locate_inception_v3` finds it
    (``model``, ``graph_file``, ``models_dir``, ``download``), once every image has decoded, so
    a bad file stops the run before anything is fetched or generated.
    With ``transfer_values_path`` the images' 2048-d ``pool_3`` values are also written there
    (.npy, float32 [N, 2048]).  ``metrics``: model, graph, predictions (what predictions.json
    holds); ``outputs``: ``top`` (per image, :class:`cnn_cookbook.nets.inception_v3.Prediction`
    list, best first), ``stand_in``, ``transfer_values``.
    """
    for image in images:
        read_image_rgb(image)
    graph_files = iv3.locate_inception_v3(model, graph_file, models_dir, download)
    images = list(images) or ([graph_files.example_image] if graph_files.example_image else [])
    if not images:
        raise CookbookError("give one or more image files to classify (the stand-in has no example image)")
    graph_def = iv3.load_inception_graph_def(graph_files.graph_path)
    stand_in = iv3.is_stand_in(graph_def)
    labels = (iv3.load_imagenet_labels(graph_files.label_map, graph_files.synset_map)
              if not stand_in and graph_files.label_map and graph_files.synset_map else None)
    ts = open_transfer_session(graph_def, bottleneck_mode if transfer_values_path else "single", device)
    values, paths = None, {}
    with ts.session:
        tops = [iv3.classify_image(ts.session, image, top_k, labels, stand_in) for image in images]
        if transfer_values_path:
            values = iv3.transfer_values(ts.session, ts.transfer, [read_image_rgb(i) for i in images])
    if values is not None:
        buffer = io.BytesIO()
        np.save(buffer, values)
        paths["transfer_values"] = write_bytes_atomic(transfer_values_path, buffer.getvalue())
    metrics = {"model": iv3.model_name(stand_in), "graph": str(graph_files.graph_path),
               "predictions": _top_rows(images, [[(p.label, p.score) for p in top] for top in tops])}
    return ChapterRun(metrics, paths=paths, outputs={"images": images, "top": tops, "stand_in": stand_in,
                                                     "transfer_values": values})


def predict_with_retrained(graph_path, labels_path, images, *, top_k=5, final_tensor_name="final_result",
                           bottleneck_mode="auto", device="auto"):
    """Top-``top_k`` classes of image files from the graph :func:`export_retrained_graph` wrote,
    in a Graph and Session of its own; returns a :class:`~cnn_cookbook.results.ChapterRun`.

    ``metrics``: graph, predictions (what predictions.json holds); ``outputs``: ``top`` (per
    image, (class name, probability) pairs, best first), ``stand_in``.
    """
    graph_def, class_names = load_retrained(graph_path, labels_path, final_tensor_name)
    ts = open_transfer_session(graph_def, bottleneck_mode, device)
    with ts.session:
        tops = predict_images(ts, class_names, images, top_k, final_tensor_name=final_tensor_name)
    return ChapterRun({"graph": str(graph_path), "predictions": _top_rows(images, tops)},
                      outputs={"top": tops, "stand_in": iv3.is_stand_in(graph_def)})
