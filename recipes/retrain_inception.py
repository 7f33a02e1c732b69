#!/usr/bin/env python
"""Retraining Inception v3 (Cookbook ch. 8 "retrain an existing CNN"; Hvass-Labs #07, #08, #09).

  python recipes/retrain_inception.py prepare                 # CIFAR-10 -> data/cifar10_folders/train_dir/<class>/*.png
  python recipes/retrain_inception.py tfrecords               # -> data/cifar10_folders/tfrecords/ shards
  python recipes/retrain_inception.py classify IMAGE.jpg      # top-10 ImageNet labels (Hvass #07)
  python recipes/retrain_inception.py retrain                 # new top layer (retrain.py, Hvass #08)
  python recipes/retrain_inception.py retrain --image-dir my_photos/   # own class folders (Hvass #09)
  python recipes/retrain_inception.py predict IMAGE.png       # with runs/retrain/output_graph.pb
  python recipes/retrain_inception.py frames --videos-dir my_videos/ --output-dir my_frames/ --fps 5
  python recipes/retrain_inception.py retrain --image-dir my_frames/   # Hvass #09: frames of your videos

retrain.py's own flags work too (--image_dir, --how_many_training_steps, --summaries_dir, ...);
'retrain' writes TensorBoard train/ and validation/ runs: tensorboard --logdir runs/retrain/tensorboard

Without models/inception/classify_image_graph_def.pb (use --download, or --model inception_v3 to
insist on it) every step runs on a generated STAND-IN graph with Inception v3's tensor names and
random weights; its outputs say STAND-IN.  Without CIFAR-10, 'prepare' uses the synthetic set.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402
from cnn_cookbook.paths import data_root, models_root  # noqa: E402

FOLDERS = data_root() / "cifar10_folders"


def _sub(subparsers, name, help_text, description):
    return subparsers.add_parser(name, help=help_text, description=description,
                                 formatter_class=cli.HelpFormatter)


BOTTLENECK_MODE_HELP = "how many images go through the graph per Session.run (see docs/retraining.md)"


def _model_args(p):
    p.add_argument("--graph", help="frozen graph .pb to use instead of --model's file")
    p.add_argument("--model", choices=("auto", "inception_v3", "stand-in"), default="auto",
                   type=cli.spellings(**{"inception-v3": "inception_v3"}),
                   help="auto: the real Inception v3 if present (or with --download), else the stand-in")
    p.add_argument("--models-dir", default=str(models_root()), help="folder holding inception/ and the stand-in")
    p.add_argument("--download", action="store_true", help="download inception-2015-12-05.tgz if missing")
    p.add_argument("--bottleneck-mode", choices=("auto", "batch", "map", "single"), default="auto",
                   help=BOTTLENECK_MODE_HELP)


def _print_only_run_args(p):
    """classify and predict print their results; --output-dir also keeps them as predictions.json."""
    cli.add_run_args(p, output_dir=None, show=False, progress=False)
    cli.find_action(p, "--output-dir").help = "also write the top classes as predictions.json into this folder"


def parse_args(argv):
    p = cli.parser(__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = _sub(sub, "prepare", "CIFAR-10 python batches -> class folders of PNGs + labels file",
             "Write CIFAR-10 as <output-dir>/train_dir/<class>/*.png (data_batch_1..5), "
             "validation_dir/<class>/*.png (test_batch) and cifar10_labels.txt. Finished files are kept.")
    cli.add_data_args(s, ("auto", "cifar10", "synthetic"), data_dir=str(data_root()))
    s.add_argument("--output-dir", default=str(FOLDERS), help="folder receiving train_dir/, validation_dir/")
    s.add_argument("--synthetic-per-class", type=cli.positive(), default=500,
                   help="training images per class of the synthetic set (test: a fifth of it)")
    cli.add_progress_arg(s)
    cli.alias(s, "--data-dir", "--data_dir")

    s = _sub(sub, "frames", "videos (one folder per class) -> class folders of JPEG frames (Hvass #09)",
             "Decode every video of <videos-dir>/<class>/ (mp4 avi mov mkv webm) with the ffmpeg that "
             "imageio-ffmpeg ships and write <output-dir>/<class>/<video>_nohash_<n>.jpg. All frames of a "
             "video fall in one split of 'retrain'. Videos already extracted with the same settings are "
             "skipped; unreadable ones are listed.")
    s.add_argument("--videos-dir", required=True, help="one sub-folder of video files per class")
    s.add_argument("--output-dir", required=True, help="receives one sub-folder of frames per class")
    rate = s.add_mutually_exclusive_group()
    rate.add_argument("--every", type=cli.positive(), help="keep every Nth frame (default: every frame)")
    rate.add_argument("--fps", type=cli.positive(float), help="keep frames at this rate (frames per second)")
    s.add_argument("--max-size", type=cli.positive(), help="shrink frames so the longer side is at most PX")
    cli.add_progress_arg(s)

    s = _sub(sub, "tfrecords", "class folders -> sharded TFRecords (build_image_data.py layout)",
             "Write train-*-of-* and validation-*-of-* TFRecord shards with several threads.")
    s.add_argument("--image-dir", default=str(FOLDERS / "train_dir"),
                   help="training images, one sub-folder per class (what 'prepare' wrote)")
    s.add_argument("--validation-dir", help="validation images, one sub-folder per class "
                                            "(default: validation_dir beside --image-dir)")
    s.add_argument("--labels-file", help="one class name per line (default: cifar10_labels.txt beside --image-dir)")
    s.add_argument("--output-dir", help="folder receiving the shards (default: tfrecords beside --image-dir)")
    s.add_argument("--images-dir", help=argparse.SUPPRESS)  # the earlier spelling: the folder 'prepare' wrote
    s.add_argument("--train-shards", type=cli.positive(), default=128, help="training TFRecord files")
    s.add_argument("--validation-shards", type=cli.positive(), default=24, help="validation TFRecord files")
    s.add_argument("--num-threads", type=cli.positive(), default=8,
                   help="writer threads; must divide both shard counts")
    cli.add_progress_arg(s)
    # build_image_data.py's flags
    cli.alias(s, "--image-dir", "--train-directory", "--train_directory")
    cli.alias(s, "--validation-dir", "--validation-directory", "--validation_directory")
    cli.alias(s, "--labels-file", "--labels_file")
    cli.alias(s, "--output-dir", "--output-directory", "--output_directory")
    cli.alias(s, "--train-shards", "--train_shards")
    cli.alias(s, "--validation-shards", "--validation_shards")
    cli.alias(s, "--num-threads", "--num_threads")

    s = _sub(sub, "classify", "top-k ImageNet labels of images (Hvass #07), optionally their transfer values",
             "Classify images with the frozen Inception v3 graph.")
    s.add_argument("images", nargs="*", help="image files (default: cropped_panda.jpg of the real model)")
    s.add_argument("--top-k", type=cli.positive(), default=10, help="classes shown per image")
    s.add_argument("--transfer-values", metavar="NPY", help="also save the 2048-d pool_3 values of all images")
    _model_args(s)
    _print_only_run_args(s)
    cli.alias(s, "--top-k", "--top", "--num_top_predictions")

    s = _sub(sub, "retrain", "train a new top layer on cached bottlenecks (retrain.py, Hvass #08/#09)",
             "Split the class folders by file-name hash, cache bottlenecks, train the new layer, "
             "report the test accuracy, export output_graph.pb + output_labels.txt + metrics.json.")
    s.add_argument("--image-dir", default=str(FOLDERS / "train_dir"), help="one sub-folder of images per class")
    cli.add_run_args(s, output_dir="runs/retrain", steps=4000)
    s.add_argument("--output-graph", help="the exported frozen graph (default: <output-dir>/output_graph.pb)")
    s.add_argument("--output-labels", help="its labels file (default: <output-dir>/output_labels.txt)")
    s.add_argument("--final-tensor-name", default="final_result", help="name of the exported graph's output")
    s.add_argument("--bottleneck-dir", help="bottleneck cache (default: <output-dir>/bottlenecks)")
    cli.add_summary_args(s)
    s.add_argument("--learning-rate", type=cli.positive(float), default=0.01, help="of the new layer's optimiser")
    s.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="Hvass #08: adam, 1e-4")
    s.add_argument("--hidden-units", type=cli.integer(0), default=0, help="Hvass #08: 1024 (0: softmax layer only)")
    s.add_argument("--batch-size", type=cli.positive(), default=100, help="training bottlenecks per step")
    s.add_argument("--validation-batch-size", type=cli.integer(1, also=(-1,)), default=100,
                   help="validation images per evaluation (-1: the whole validation set)")
    s.add_argument("--eval-every", type=cli.positive(), default=10, help="steps between validation evaluations")
    s.add_argument("--testing-percentage", type=cli.real(minimum=0, below=100), default=10.0,
                   help="share of each class kept for the test")
    s.add_argument("--validation-percentage", type=cli.real(minimum=0, below=100), default=10.0,
                   help="share of each class for validation")
    s.add_argument("--print-misclassified-test-images", action="store_true",
                   help="list the test images the new layer gets wrong, with the class it chose")
    s.add_argument("--flip-left-right", action="store_true", help="distortion (bypasses the cache)")
    s.add_argument("--random-crop", type=cli.real(minimum=0, below=100), default=0.0,
                   help="distortion: margin %% cropped at random")
    s.add_argument("--random-scale", type=cli.real(minimum=0), default=0.0, help="distortion: up to this %% enlargement")
    s.add_argument("--random-brightness", type=cli.real(minimum=0, below=100), default=0.0,
                   help="distortion: +- this %% brightness")
    s.add_argument("--bottleneck-batch-size", type=cli.positive(), default=32,
                   help="images per Session.run while computing bottlenecks")
    s.add_argument("--export-savedmodel", metavar="DIR",
                   help="also write a SavedModel (serving_default: encoded JPEG/PNG bytes -> probabilities, classes)")
    _model_args(s)
    # retrain.py's flags, with its meanings
    for flag, *names in (("--image-dir", "--image_dir"), ("--output-graph", "--output_graph"),
                         ("--output-labels", "--output_labels"), ("--steps", "--how_many_training_steps"),
                         ("--bottleneck-dir", "--bottleneck_dir"), ("--summaries-dir", "--summaries_dir"),
                         ("--final-tensor-name", "--final_tensor_name"), ("--learning-rate", "--learning_rate"),
                         ("--batch-size", "--train-batch-size", "--train_batch_size"),
                         ("--validation-batch-size", "--validation_batch_size"),
                         ("--eval-every", "--eval_step_interval"), ("--testing-percentage", "--testing_percentage"),
                         ("--validation-percentage", "--validation_percentage"),
                         ("--print-misclassified-test-images", "--print_misclassified_test_images"),
                         ("--flip-left-right", "--flip_left_right"), ("--random-crop", "--random_crop"),
                         ("--random-scale", "--random_scale"), ("--random-brightness", "--random_brightness"),
                         ("--export-savedmodel", "--saved_model_dir")):
        cli.alias(s, flag, *names)

    s = _sub(sub, "predict", "classify images with the graph 'retrain' exported",
             "Top-k classes of images from output_graph.pb and output_labels.txt, or from the "
             "SavedModel 'retrain --export-savedmodel' wrote.")
    s.add_argument("images", nargs="+", help="image files to classify")
    s.add_argument("--graph", default="runs/retrain/output_graph.pb",
                   help="output_graph.pb, or a SavedModel folder (its class names are inside; --labels-file "
                        "is ignored)")
    s.add_argument("--labels-file", default="runs/retrain/output_labels.txt", help="the labels 'retrain' wrote")
    s.add_argument("--final-tensor-name", default="final_result", help="the exported graph's output")
    s.add_argument("--top-k", type=cli.positive(), default=5, help="classes shown per image")
    s.add_argument("--bottleneck-mode", choices=("auto", "batch", "map", "single"), default="auto",
                   help=BOTTLENECK_MODE_HELP)
    _print_only_run_args(s)
    cli.alias(s, "--labels-file", "--labels")
    cli.alias(s, "--final-tensor-name", "--final_tensor_name")
    return p.parse_args(argv)


def prepare(args):
    from cnn_cookbook.datasets import cifar10
    from cnn_cookbook.datasets.folders import export_cifar_python

    per_class = args.synthetic_per_class
    batches, name = cifar10.find_cifar10(args.dataset, args.data_dir, args.download, flavour="python",
                                         train_per_class=per_class, test_per_class=max(1, per_class // 5))
    print(f"dataset: {name} ({batches})")
    report = export_cifar_python(batches, args.output_dir, cifar10.read_python_batch, cifar10.CLASS_NAMES,
                                 source=name if name == "cifar10" else f"synthetic, {per_class} per class",
                                 progress=not args.no_progress)
    print(f"{report.written} images written, {report.kept} already there; {report.train_dir}, "
          f"{report.validation_dir}, labels in {report.labels_file}")


def frames(args):
    from cnn_cookbook.datasets.video import extract_frames

    report = extract_frames(args.videos_dir, args.output_dir, args.every, args.fps, args.max_size,
                            progress=not args.no_progress)
    for key, reason in report.skipped:
        print(f"skipped {key}: {reason}")
    print(f"{report.frames} frames from {len(report.extracted) + len(report.kept)} videos of "
          f"{len(report.classes)} classes ({len(report.extracted)} extracted now, {len(report.kept)} "
          f"already done, {len(report.skipped)} skipped) in {report.output_dir}; next: retrain --image-dir "
          f"{report.output_dir}")


def tfrecords(args):
    from cnn_cookbook.datasets.folders import LABELS_FILENAME
    from cnn_cookbook.datasets.tfrecords import find_image_files, write_tfrecords

    # --images-dir (the earlier spelling) names the folder 'prepare' wrote, which holds all three
    train_dir = Path(args.images_dir) / "train_dir" if args.images_dir else Path(args.image_dir)
    root = train_dir.parent
    labels = args.labels_file or root / LABELS_FILENAME
    out = Path(args.output_dir or root / "tfrecords")
    for name, folder, shards in (("train", train_dir, args.train_shards),
                                 ("validation", args.validation_dir or root / "validation_dir",
                                  args.validation_shards)):
        report = write_tfrecords(name, find_image_files(folder, labels), out, shards, args.num_threads,
                                 progress=not args.no_progress)
        print(f"{name}: {sum(report.records)} images in {len(report.files)} shards by "
              f"{report.threads_used} threads, {len(report.skipped)} unreadable skipped -> {out}")
        if report.skipped:  # corrupt, not images, or over --max-pixels
            print(f"skipped: {', '.join(str(p) for p in report.skipped)}")


def _graph_files(args):
    from cnn_cookbook.nets.inception_v3 import locate_inception_v3

    return locate_inception_v3(args.model, args.graph, args.models_dir, args.download)


def classify(args):
    from cnn_cookbook.fileio import write_json
    from cnn_cookbook.nets.inception_v3 import STAND_IN_LABEL, model_name
    from cnn_cookbook.retrain import classify_images

    run = classify_images(args.images, model=args.model, graph_file=args.graph, models_dir=args.models_dir,
                          download=args.download, top_k=args.top_k, transfer_values_path=args.transfer_values,
                          bottleneck_mode=args.bottleneck_mode, device=args.device)
    tag = f"  [{STAND_IN_LABEL}]" if run.outputs["stand_in"] else ""
    for image, top in zip(run.outputs["images"], run.outputs["top"]):
        print(f"{image}:{tag}")
        for p in top:
            print(f"  {100 * p.score:6.2f}%  {p.label}")
    if args.output_dir:
        write_json(Path(args.output_dir) / "predictions.json", run.metrics)
    if args.transfer_values:
        print(f"transfer values {run.outputs['transfer_values'].shape} ({model_name(run.outputs['stand_in'])}) -> "
              f"{args.transfer_values}{tag}")


def retrain(args):
    from cnn_cookbook.bottlenecks import Distortions
    from cnn_cookbook.retrain import retrain_on_folders
    from cnn_cookbook.run_folder import claim

    with claim(args.output_dir) as output_dir:  # held until the outputs are written
        run = retrain_on_folders(
            args.image_dir, _graph_files(args), output_dir, bottleneck_dir=args.bottleneck_dir, steps=args.steps,
            learning_rate=args.learning_rate, train_batch_size=args.batch_size,
            validation_batch_size=args.validation_batch_size, eval_every=args.eval_every,
            testing_percentage=args.testing_percentage, validation_percentage=args.validation_percentage,
            hidden_units=args.hidden_units, optimizer=args.optimizer,
            distortions=Distortions(args.flip_left_right, args.random_crop, args.random_scale, args.random_brightness),
            bottleneck_mode=args.bottleneck_mode, bottleneck_batch_size=args.bottleneck_batch_size, seed=args.seed,
            device=args.device, progress=not args.no_progress, summaries_dir=args.summaries_dir,
            histogram_every=args.histograms_every, output_graph=args.output_graph, output_labels=args.output_labels,
            final_tensor_name=args.final_tensor_name, export_savedmodel=args.export_savedmodel)
        cli.write_outputs(output_dir, run.metrics, run.history, run.figures, show=args.show)
    m = run.metrics
    if args.print_misclassified_test_images:
        test, names = run.outputs["sets"]["testing"], run.outputs["class_names"]
        chosen = run.outputs["result"].test_probabilities.argmax(axis=1) if len(test.labels) else []
        print("misclassified test images:")
        for path, label, guess in zip(test.paths, test.labels, chosen):
            if guess != label:
                print(f"  {str(path):70s} {names[guess]}")
    tag = " [STAND-IN graph: random weights]" if m["model"] == "stand-in" else ""
    print(f"final test accuracy {100 * m['test_accuracy']:.1f}% on {m['test_examples']} images, "
          f"{len(m['classes'])} classes, {m['steps']} steps{tag}; exported {m['output_graph']} and "
          f"{m['output_labels']}" + (f"; SavedModel in {m['savedmodel']}" if m["savedmodel"] else ""))


def predict_savedmodel(args):
    from cnn_cookbook import serving

    probabilities, names, stand_in = serving.predict_files(args.graph, args.images, args.device)
    tag = "  [STAND-IN graph: random weights]" if stand_in else ""
    for image, row in zip(args.images, probabilities):
        print(f"{image}:{tag}")
        for index in row.argsort()[::-1][:min(args.top_k, len(names))]:
            print(f"  {100 * row[index]:6.2f}%  {names[index]}")


def predict(args):
    from cnn_cookbook.fileio import write_json
    from cnn_cookbook.nets.inception_v3 import STAND_IN_LABEL
    from cnn_cookbook.retrain import predict_with_retrained
    from cnn_cookbook.serving import is_savedmodel

    if is_savedmodel(args.graph):
        return predict_savedmodel(args)
    run = predict_with_retrained(args.graph, args.labels_file, args.images, top_k=args.top_k,
                                 final_tensor_name=args.final_tensor_name, bottleneck_mode=args.bottleneck_mode,
                                 device=args.device)
    tag = f"  [{STAND_IN_LABEL}]" if run.outputs["stand_in"] else ""
    for image, top in zip(args.images, run.outputs["top"]):
        print(f"{image}:{tag}")
        for name, score in top:
            print(f"  {100 * score:6.2f}%  {name}")
    if args.output_dir:
        write_json(Path(args.output_dir) / "predictions.json", run.metrics)


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    {"prepare": prepare, "frames": frames, "tfrecords": tfrecords, "classify": classify, "retrain": retrain,
     "predict": predict}[args.command](args)


if __name__ == "__main__":
    main()
