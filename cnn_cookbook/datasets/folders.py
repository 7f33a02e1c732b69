"""Class-folder image data sets (``root/<class>/<image>``), no TensorFlow.

The layout TensorFlow's retrain.py and research/inception's build_image_data.py read: one
sub-folder per class, holding that class's images.  Here:

- :func:`list_class_folders` finds the classes and their images (empty class folders are skipped
  and reported, files that are not images by name are ignored and counted);
- :func:`split_for` / :func:`split_image_lists` give retrain.py's stable hash-based
  training/validation/testing split: an image's set depends only on its own file name, so adding
  files never moves the ones already there;
- :func:`export_cifar_python` writes CIFAR-10 python batches as PNGs into ``train_dir/<class>/``
  and ``validation_dir/<class>/`` with the labels file (the cookbook's "retrain" preparation).

Bug fixed in the export: the cookbook reshaped each 3072-byte row to [3, 32, 32] and called
``.transpose()``, which reverses *all* axes and gives [W, H, C]: every image was saved mirrored
along its diagonal.  :func:`cifar_row_to_hwc` uses ``transpose(1, 2, 0)`` (C,H,W -> H,W,C).
"""

import hashlib
import json
import os
import re
from collections import namedtuple
from pathlib import Path

import numpy as np

from cnn_cookbook.datasets import cifar10
from cnn_cookbook.errors import CookbookError, DataFormatError
from cnn_cookbook.fileio import ensure_dir, write_bytes_atomic, write_json
from cnn_cookbook.io.images import encode_jpeg, encode_png
from cnn_cookbook.progress import bar as progress_bar

#: file name endings treated as images (case-insensitive)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")

#: retrain.py's bound: the split hash is taken modulo this + 1, so it does not depend on how many
#: images a class has (a class may hold up to ~134M images before the split would change).
MAX_NUM_IMAGES_PER_CLASS = 2 ** 27 - 1

SPLITS = ("training", "validation", "testing")

CIFAR_TRAIN_BATCHES = cifar10.TRAIN_BATCHES  # data_batch_1..5
CIFAR_TEST_BATCHES = (cifar10.TEST_BATCH,)
LABELS_FILENAME = "cifar10_labels.txt"




ClassFolders = namedtuple("ClassFolders", [
    "root",             # Path of the data set folder
    "class_names",      # sorted folder names of the classes that hold images
    "images",           # dict class name -> sorted list of image Paths
    "empty_classes",    # folder names with no image files (skipped)
    "ignored_files",    # number of files whose names are not images (skipped)
])


def is_image_name(path):
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_class_folders(root, min_classes=2):
    """Find ``root/<class>/<image>`` files; returns :class:`ClassFolders`.

    Hidden folders/files are ignored.  Class folders without any image are skipped (named in
    ``empty_classes``); a data set with fewer than ``min_classes`` classes left is an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise CookbookError(f"image folder {root} does not exist; give a folder with one "
                            "sub-folder of images per class (run the 'prepare' step for CIFAR-10)")
    images, empty, ignored = {}, [], 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        kept = [p for p in files if is_image_name(p)]
        ignored += len(files) - len(kept)
        if kept:
            images[folder.name] = kept
        else:
            empty.append(folder.name)
    if len(images) < min_classes:
        found = f"found {len(images)} class folder(s) with images" + (
            f" and {len(empty)} empty one(s) ({', '.join(empty[:5])})" if empty else "")
        raise CookbookError(f"{root} needs at least {min_classes} sub-folders of images (one per "
                            f"class); {found}")
    return ClassFolders(root, sorted(images), images, empty, ignored)


def split_for(filename, validation_percentage=10, testing_percentage=10):
    """'training', 'validation' or 'testing' for one image, from a hash of its file name.

    As retrain.py: anything after ``_nohash_`` in the name is ignored (so variants of one photo
    stay in one set), the SHA-1 of the rest picks a stable percentage in [0, 100].
    """
    name = re.sub(r"_nohash_.*$", "", Path(filename).name)
    digest = int(hashlib.sha1(name.encode("utf-8")).hexdigest(), 16)
    percentage = (digest % (MAX_NUM_IMAGES_PER_CLASS + 1)) * (100.0 / MAX_NUM_IMAGES_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def split_image_lists(folders, validation_percentage=10, testing_percentage=10):
    """dict class -> {'training': [...], 'validation': [...], 'testing': [...]} of Paths.

    A class without any training image is an error (the new layer could never learn it).
    """
    if not (0 <= validation_percentage and 0 <= testing_percentage
            and validation_percentage + testing_percentage < 100):
        raise CookbookError("the validation and testing percentages must be >= 0 and sum to less than 100 "
                            f"(got {validation_percentage} and {testing_percentage})",
                            field=("validation_percentage", "testing_percentage"))
    lists = {}
    for name in folders.class_names:
        sets = {split: [] for split in SPLITS}
        for path in folders.images[name]:
            sets[split_for(path, validation_percentage, testing_percentage)].append(path)
        if not sets["training"]:
            raise CookbookError(f"class {name!r} has {len(folders.images[name])} image(s) but none "
                                "fell into the training set; add images to that folder")
        lists[name] = sets
    return lists


# ---------------------------------------------------------------------------------------------
# Labels files (one class name per line)


def write_labels_file(path, class_names):
    write_bytes_atomic(path, "".join(f"{name}\n" for name in class_names).encode("utf-8"))
    return Path(path)


def read_labels_file(path):
    """Class names, one per non-empty line of ``path``."""
    path = Path(path)
    if not path.is_file():
        raise CookbookError(f"labels file {path} does not exist; give the file the 'prepare' or "
                            "'retrain' step wrote (one class name per line)")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise DataFormatError(f"labels file {path} is empty; it needs one class name per line")
    if len(set(names)) != len(names):
        raise DataFormatError(f"labels file {path} names a class twice; one class per line")
    return names


# ---------------------------------------------------------------------------------------------
# CIFAR-10 python batches -> class folders of PNGs


def cifar_row_to_hwc(row):
    """One CIFAR row (3072 uint8: 1024 R, 1024 G, 1024 B, each row-major 32x32) -> [32, 32, 3]."""
    return cifar10.records_to_images(row)[0]


ExportReport = namedtuple("ExportReport", ["written", "kept", "train_dir", "validation_dir", "labels_file"])


def _png_name(filename, index):
    name = filename.decode("latin1") if isinstance(filename, bytes) else str(filename or "")
    name = os.path.basename(name.replace("\\", "/")) or f"image_{index:05d}.png"
    if not name.lower().endswith(".png"):
        name += ".png"
    return name


def export_cifar_python(batches_dir, output_dir, read_batch, class_names, source="cifar10",
                        progress=True):
    """Write CIFAR-10 python batches as ``output_dir/{train_dir,validation_dir}/<class>/<name>.png``.

    ``read_batch(path)`` returns ``{"data": (N, 3072) uint8 CHW rows, "labels", "filenames"}``
    (:func:`cnn_cookbook.datasets.cifar10.read_python_batch`).  data_batch_1..5 go to train_dir,
    test_batch to validation_dir (as the cookbook), and ``cifar10_labels.txt`` lists the classes.
    Files already there are kept as they are (each PNG is written atomically, so an existing
    file is complete): re-running resumes an interrupted export and rewrites nothing.  The
    source is recorded in ``source.json``; a folder prepared from another source is refused.
    """
    batches_dir, output_dir = Path(batches_dir), Path(output_dir)
    plan = [(name, "train_dir") for name in CIFAR_TRAIN_BATCHES] + \
           [(name, "validation_dir") for name in CIFAR_TEST_BATCHES]
    missing = [name for name, _ in plan if not (batches_dir / name).is_file()]
    if missing:
        raise CookbookError(f"{batches_dir} lacks {', '.join(missing)}; it should be the extracted "
                            "cifar-10-batches-py folder (download it, or delete it to re-extract)",
                            field="download")
    stamp = output_dir / "source.json"
    if stamp.is_file():
        previous = json.loads(stamp.read_text()).get("source")
        if previous != source:
            raise CookbookError(f"{output_dir} holds images prepared from {previous!r}, not {source!r}; "
                                "choose another output folder or delete that one", field="output_dir")
    # every batch is read (and checked) before the first file is written: a bad batch leaves nothing
    batches = [(batch_name, subset, read_batch(batches_dir / batch_name)) for batch_name, subset in plan]
    ensure_dir(output_dir, field="output_dir")
    if not stamp.is_file():
        write_json(stamp, {"source": source, "classes": list(class_names)})
    written = kept = 0
    for batch_name, subset, batch in batches:
        data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
        filenames = batch.get("filenames") or [None] * len(labels)
        for name in class_names:
            ensure_dir(output_dir / subset / name)
        bar = progress_bar(total=len(labels), desc=f"{batch_name} -> {subset}", unit="img", enabled=progress)
        for index, (row, label) in enumerate(zip(data, labels)):
            path = output_dir / subset / class_names[int(label)] / _png_name(filenames[index], index)
            if path.is_file():
                kept += 1
            else:
                write_bytes_atomic(path, encode_png(cifar_row_to_hwc(row)))
                written += 1
            bar.update(1)
        bar.close()
    labels_file = output_dir / LABELS_FILENAME
    write_labels_file(labels_file, class_names)
    return ExportReport(written, kept, output_dir / "train_dir", output_dir / "validation_dir", labels_file)


def write_class_folders(root, images_by_class, extension=".png"):
    """Write ``{class: [uint8 HxWx3, ...]}`` as ``root/<class>/<class>_<i>.<ext>`` (for tests/demos)."""
    root = Path(root)
    for name, images in images_by_class.items():
        for index, image in enumerate(images):
            data = encode_png(image) if extension == ".png" else encode_jpeg(image)
            write_bytes_atomic(root / name / f"{name}_{index:04d}{extension}", data)
    return root


__all__ = ["IMAGE_EXTENSIONS", "ClassFolders", "list_class_folders", "split_for", "split_image_lists",
           "write_labels_file", "read_labels_file", "cifar_row_to_hwc", "export_cifar_python",
           "write_class_folders"]
