"""CIFAR-10 files: the binary and python readers, finding the data, and the synthetic stand-in.

No TensorFlow here (the graph pipelines are in :mod:`cnn_cookbook.datasets.cifar10_pipeline`).

Formats:

- binary: ``cifar-10-batches-bin/data_batch_{1..5}.bin`` and ``test_batch.bin``; each record is
  one label byte (0..9) and 3072 pixel bytes, the red, green and blue 32x32 planes (CHW order).
- python: ``cifar-10-batches-py/data_batch_{1..5}`` and ``test_batch``, pickled dicts with
  ``data`` (N x 3072 uint8, same CHW order), ``labels``, ``filenames``, ``batch_label``;
  ``batches.meta`` holds ``label_names``.  A pickle can run code when it is loaded, so
  :func:`read_python_batch` uses an unpickler that knows only the few NumPy names those files
  contain and refuses everything else before anything is called.

:func:`find_cifar10` implements ``--dataset auto|cifar10|synthetic``; the synthetic set
(:func:`write_synthetic_cifar`) is written in both real formats, so every code path that reads
the real files reads the synthetic ones the same way.
"""

import io
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np

from cnn_cookbook.datasets.synthetic import balanced_labels, synthetic_cifar_images
from cnn_cookbook.errors import CookbookError, DataFormatError, MissingFileError
from cnn_cookbook.fileio import atomic_dir, ensure_dir, write_bytes_atomic, write_json
from cnn_cookbook.io import downloads

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
IMAGE_SIZE = 32
CHANNELS = 3
LABEL_BYTES = 1
IMAGE_BYTES = IMAGE_SIZE * IMAGE_SIZE * CHANNELS      # 3072
RECORD_BYTES = LABEL_BYTES + IMAGE_BYTES              # 3073

BINARY_FOLDER = "cifar-10-batches-bin"
PYTHON_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
SYNTHETIC_FOLDER = "synthetic-cifar10"
DATASETS = ("auto", "cifar10", "synthetic")
#: longest image file name accepted from a python batch (the real ones are under 60 characters;
#: file systems allow 255 bytes and the export may add ".png")
MAX_FILENAME_BYTES = 250
FLAVOURS = {"binary": (BINARY_FOLDER, "cifar10/binary"), "python": (PYTHON_FOLDER, "cifar10/python")}


# ---------------------------------------------------------------------------------------------
# Binary batches


def binary_files(batches_dir, split):
    """Paths of the ``train`` (5 files) or ``test`` (1 file) binary batches in ``batches_dir``."""
    names = TRAIN_BATCHES if split == "train" else (TEST_BATCH,) if split == "test" else None
    if names is None:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    paths = [Path(batches_dir) / f"{name}.bin" for name in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise MissingFileError(f"{batches_dir} lacks {', '.join(missing)}; give the data folder holding "
                               f"{BINARY_FOLDER}/ (or cifar-10-binary.tar.gz), or use the synthetic data set",
                               field=("data_dir", "dataset"))
    return paths


def check_binary_file(path):
    """Number of records in a binary batch, after checking it against the format.

    The size must be a whole number of 3073-byte records, and every record's first byte (its
    label) must be 0..9.  The label check also catches files of other record sizes whose length
    happens to divide by 3073 (3073 records of 3074 bytes, CIFAR-100's layout): their "labels"
    drift into pixel bytes.
    """
    size = Path(path).stat().st_size
    if size == 0 or size % RECORD_BYTES:
        raise DataFormatError(
            f"{path} has {size} bytes, not a whole number of {RECORD_BYTES}-byte CIFAR-10 records "
            "(truncated or not a CIFAR-10 binary batch); delete it and extract the archive again")
    labels = np.array(np.memmap(path, dtype=np.uint8, mode="r")[::RECORD_BYTES])
    _check_labels(labels, path)
    return size // RECORD_BYTES


def checked_binary_files(batches_dir, split):
    """``(paths, records)``: the ``split``'s binary batches as path strings, each checked by
    :func:`check_binary_file`, and the number of records they hold together."""
    files = binary_files(batches_dir, split)
    return [str(f) for f in files], sum(check_binary_file(f) for f in files)


def count_records(batches_dir, split):
    """Records in the ``split``'s binary batches (each file checked)."""
    return checked_binary_files(batches_dir, split)[1]


def records_to_images(data):
    """CHW rows [N, 3072] uint8 -> HWC images [N, 32, 32, 3] uint8 (values 0..255)."""
    data = np.asarray(data, dtype=np.uint8)
    return data.reshape(-1, CHANNELS, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)


def images_to_records(images):
    """HWC images [N, 32, 32, 3] uint8 -> CHW rows [N, 3072] (the files' pixel order)."""
    return np.ascontiguousarray(np.asarray(images, dtype=np.uint8).transpose(0, 3, 1, 2)).reshape(-1, IMAGE_BYTES)


def _check_labels(labels, path):
    bad = np.flatnonzero((labels < 0) | (labels >= len(CLASS_NAMES)))
    if bad.size:
        raise DataFormatError(f"{path} has {bad.size} label(s) outside 0..9 (the first: {int(labels[bad[0]])} "
                              f"in record {int(bad[0])}); it is not a CIFAR-10 batch (CIFAR-100 has "
                              "another layout) or it is corrupt: delete it and extract the archive again")


def read_binary_batch(path):
    """Read one binary batch: ``(images [N,32,32,3] uint8 HWC, labels [N] int32 0..9)``."""
    count = check_binary_file(path)
    raw = np.fromfile(path, dtype=np.uint8).reshape(count, RECORD_BYTES)
    labels = raw[:, 0].astype(np.int32)
    _check_labels(labels, path)
    return records_to_images(raw[:, LABEL_BYTES:]), labels


def read_binary_split(batches_dir, split):
    """All images and labels of ``split`` (train|test) from the binary batches, in file order."""
    parts = [read_binary_batch(p) for p in binary_files(batches_dir, split)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def write_binary_batch(path, images, labels):
    """Write HWC uint8 images and labels as one binary batch (atomically)."""
    labels = np.asarray(labels, dtype=np.uint8).reshape(-1, 1)
    records = np.concatenate([labels, images_to_records(images)], axis=1)
    return write_bytes_atomic(path, records.tobytes())


# ---------------------------------------------------------------------------------------------
# Python (pickled) batches


def _latin1_encode(text, encoding="latin1"):
    """Stand-in for ``_codecs.encode``: protocol-2 pickles spell ``bytes`` as this call."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode called with unexpected arguments")
    return text.encode("latin1")


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _CifarUnpickler(pickle.Unpickler):
    """Resolves only the names a CIFAR-10 batch contains; anything else is refused unloaded."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("_codecs", "encode"): lambda: _latin1_encode,
    }

    def find_class(self, module, name):
        factory = self._ALLOWED.get((module, name))
        if factory is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return factory()

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id")


def _unpickle(path):
    try:
        payload = Path(path).read_bytes()
    except FileNotFoundError:
        raise MissingFileError(f"{path} does not exist; give the data folder holding "
                               f"{PYTHON_FOLDER}/ (or cifar-10-python.tar.gz)", field="data_dir") from None
    except OSError as exc:
        raise DataFormatError(f"cannot read {path} ({exc.strerror or type(exc).__name__}); it should be "
                              "a CIFAR-10 python batch file") from None
    try:
        # latin1 is how Python 3 reads the Python 2 pickles the real files are
        return _CifarUnpickler(io.BytesIO(payload), encoding="latin1").load()
    except Exception as exc:  # a hostile or broken pickle can raise nearly anything
        raise DataFormatError(f"{path} is not a CIFAR-10 python batch ({type(exc).__name__}: "
                              f"{str(exc)[:120]}); nothing in it was run; delete it and extract "
                              "the archive again") from None


def _text_keys(obj, path):
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path} holds a {type(obj).__name__}, not the dict of a CIFAR-10 batch")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _as_text(value):
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def read_python_batch(path):
    """Read one pickled batch safely.

    Returns ``{"data": [N, 3072] uint8 (CHW rows), "labels": [N] int32 0..9,
    "filenames": list of N str, "batch_label": str}``.  Anything but the names such a file
    contains (NumPy's array reconstruction) makes it a :class:`DataFormatError`, raised before
    any of it is called.
    """
    batch = _text_keys(_unpickle(path), path)
    missing = {"data", "labels"} - set(batch)
    if missing:
        raise DataFormatError(f"{path} lacks {sorted(missing)}; it is not a CIFAR-10 python batch")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != IMAGE_BYTES:
        shape = getattr(data, "shape", None)
        raise DataFormatError(f"{path}: 'data' should be an N x {IMAGE_BYTES} uint8 array, got "
                              f"{type(data).__name__} {shape}; not a CIFAR-10 python batch")
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataFormatError(f"{path}: 'labels' is not a list of class numbers; not a CIFAR-10 "
                              "python batch") from None
    if labels.shape != (len(data),):
        raise DataFormatError(f"{path}: {labels.size} labels for {len(data)} images")
    _check_labels(labels, path)
    filenames = [_as_text(f) for f in batch.get("filenames", [f"{i:05d}.png" for i in range(len(data))])]
    if len(filenames) != len(data):
        raise DataFormatError(f"{path}: {len(filenames)} filenames for {len(data)} images")
    for index, name in enumerate(filenames):
        # the names become file names when the batch is exported as PNGs
        if "\x00" in name or len(name.encode("utf-8", "surrogateescape")) > MAX_FILENAME_BYTES:
            shown = repr(name[:40]) + ("..." if len(name) > 40 else "")
            raise DataFormatError(f"{path}: image {index}'s file name {shown} has a NUL byte or is longer "
                                  f"than {MAX_FILENAME_BYTES} bytes; not a CIFAR-10 python batch")
    return {"data": data, "labels": labels.astype(np.int32), "filenames": filenames,
            "batch_label": _as_text(batch.get("batch_label", ""))}


def read_python_meta(path):
    """Class names from ``batches.meta`` (list of str)."""
    meta = _text_keys(_unpickle(path), path)
    names = meta.get("label_names")
    if not isinstance(names, list) or not names:
        raise DataFormatError(f"{path} has no label_names; it is not a CIFAR-10 batches.meta")
    return [_as_text(n) for n in names]


def read_python_split(batches_dir, split):
    """All ``(images [N,32,32,3] uint8 HWC, labels [N] int32)`` of a split from the pickles."""
    names = TRAIN_BATCHES if split == "train" else (TEST_BATCH,)
    batches = [read_python_batch(Path(batches_dir) / n) for n in names]
    return (records_to_images(np.concatenate([b["data"] for b in batches])),
            np.concatenate([b["labels"] for b in batches]))


def write_python_batch(path, images, labels, filenames, batch_label):
    """Pickle a batch the way the real files are laid out (protocol 2, bytes keys)."""
    batch = {b"batch_label": batch_label.encode("latin1"),
             b"labels": [int(v) for v in labels],
             b"data": images_to_records(images),
             b"filenames": [f.encode("latin1") for f in filenames]}
    return write_bytes_atomic(path, pickle.dumps(batch, protocol=2))


# ---------------------------------------------------------------------------------------------
# Synthetic CIFAR-10 in both real layouts (the images: :mod:`cnn_cookbook.datasets.synthetic`)


def write_synthetic_cifar(directory, train_per_class=500, test_per_class=100, seed=0):
    """Write a synthetic CIFAR-10 in both real layouts under ``directory``; returns ``directory``.

    ``directory/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
    ``directory/cifar-10-batches-bin/{data_batch_1..5.bin, test_batch.bin, batches.meta.txt}``,
    the same images in both.  The training images (10 x ``train_per_class``) are spread over the
    five batches.  The same arguments always give the same bytes.  The folders are built in a
    temp folder and moved into place, so an interrupted run leaves nothing half-written.
    """
    directory = Path(directory)
    ensure_dir(directory)
    rng = np.random.default_rng(seed)
    train_labels = balanced_labels(len(CLASS_NAMES), train_per_class, rng)
    train_images = synthetic_cifar_images(train_labels, rng)
    test_labels = balanced_labels(len(CLASS_NAMES), test_per_class, rng)
    test_images = synthetic_cifar_images(test_labels, rng)
    chunks = np.array_split(np.arange(len(train_labels)), len(TRAIN_BATCHES))
    batches = [(name, train_images[c], train_labels[c], f"training batch {i + 1} of 5")
               for i, (name, c) in enumerate(zip(TRAIN_BATCHES, chunks))]
    batches.append((TEST_BATCH, test_images, test_labels, "testing batch 1 of 1"))
    for folder in (PYTHON_FOLDER, BINARY_FOLDER):
        with atomic_dir(directory / folder) as staging:
            serial = 0
            for name, images, labels, batch_label in batches:
                if folder == BINARY_FOLDER:
                    write_binary_batch(staging / f"{name}.bin", images, labels)
                else:
                    names = [f"synthetic_{CLASS_NAMES[l]}_s_{serial + i:06d}.png" for i, l in enumerate(labels)]
                    write_python_batch(staging / name, images, labels, names, batch_label)
                serial += len(labels)
            if folder == BINARY_FOLDER:
                (staging / "batches.meta.txt").write_text("\n".join(CLASS_NAMES) + "\n\n")
            else:
                (staging / "batches.meta").write_bytes(pickle.dumps(
                    {b"label_names": [n.encode() for n in CLASS_NAMES],
                     b"num_cases_per_batch": len(chunks[0]), b"num_vis": IMAGE_BYTES}, protocol=2))
    return directory


# ---------------------------------------------------------------------------------------------
# --dataset auto|cifar10|synthetic


def _batch_names(flavour):
    suffix = ".bin" if flavour == "binary" else ""
    return [f"{name}{suffix}" for name in TRAIN_BATCHES + (TEST_BATCH,)]


def _missing_batches(folder, flavour):
    """None when ``folder`` holds none of the batch files, else the list of those it lacks."""
    names = _batch_names(flavour)
    present = [n for n in names if (folder / n).is_file()]
    return [n for n in names if n not in present] if present else None


def _real_cifar10(data_dir, download, flavour):
    """The batches folder of the real set: found in ``data_dir`` or ``data_dir/cifar10`` (the
    folder itself, the folder inside it, or the archive, extracted once); else downloaded."""
    folder, key = FLAVOURS[flavour]
    data_dir = Path(data_dir)
    roots = [data_dir, data_dir / "cifar10"]
    for candidate in (data_dir / folder, data_dir, data_dir / "cifar10" / folder):
        missing = _missing_batches(candidate, flavour)
        if missing == []:
            return candidate
        if missing:  # an incomplete copy is the user's: never replaced or mixed with the archive
            raise DataFormatError(f"{candidate} lacks {', '.join(missing)}; complete it, or move it away "
                                  f"so that {downloads.remote_file(key).filename} is extracted there again")
    filename = downloads.remote_file(key).filename
    root = next((r for r in roots if (r / filename).is_file()), data_dir)
    archive = downloads.fetch(key, root, download=download)
    staging = root / f".{folder}.extracted"
    # our own scratch folder from an interrupted or failed run: never a reason to refuse the archive
    shutil.rmtree(staging, ignore_errors=True)
    downloads.extract_archive(archive, staging)
    extracted = staging / folder
    missing = _missing_batches(extracted, flavour) if extracted.is_dir() else None
    if missing != []:
        shutil.rmtree(staging, ignore_errors=True)
        lacking = f"{folder}/{missing[0]}" if missing else f"{folder}/"
        raise DataFormatError(f"{archive} does not contain {lacking}; it is not the CIFAR-10 "
                              f"{flavour} archive: delete it and download it again")
    os.replace(extracted, root / folder)
    shutil.rmtree(staging, ignore_errors=True)
    return root / folder


SYNTHETIC_SIZES = {"train_per_class": 500, "test_per_class": 100, "seed": 0}
SYNTHETIC_VERSION = 2  # bump when synthetic_cifar_images changes, so cached sets are rewritten


def synthetic_cifar10(data_dir, **sizes):
    """The synthetic set under ``data_dir/synthetic-cifar10`` (written once, then reused)."""
    settings = {**SYNTHETIC_SIZES, **sizes}
    root = Path(data_dir) / SYNTHETIC_FOLDER
    stamp = root / "synthetic.json"
    complete = all((root / f).is_dir() for f in (PYTHON_FOLDER, BINARY_FOLDER))
    wanted = {**settings, "generator": SYNTHETIC_VERSION}
    if not (complete and stamp.is_file() and json.loads(stamp.read_text()) == wanted):
        write_synthetic_cifar(root, **settings)
        write_json(stamp, wanted)
    return root


def find_cifar10(dataset="auto", data_dir="data", download=False, flavour="binary", announce=print,
                 **synthetic_sizes):
    """Resolve ``--dataset``: ``(batches folder, dataset name used)``.

    ``cifar10``: the real files (``cifar-10-batches-bin/`` or ``-py/`` in ``data_dir``, else the
    archive there, else downloaded when ``download``), else a :class:`MissingFileError`.
    ``synthetic``: the embedded synthetic set, written under ``data_dir/synthetic-cifar10``.
    ``auto``: the real set if present (or downloadable with ``download``), else the synthetic
    one, announced in one line through ``announce``.  A corrupt archive or a checksum mismatch is
    an error in every mode, never a silent fallback.
    """
    if dataset not in DATASETS:
        raise CookbookError(f"the data set must be one of {', '.join(DATASETS)}, not {dataset!r}",
                            field="dataset")
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be 'binary' or 'python', not {flavour!r}")
    folder = FLAVOURS[flavour][0]
    if dataset in ("auto", "cifar10"):
        try:
            return _real_cifar10(data_dir, download, flavour), "cifar10"
        except MissingFileError:
            if dataset == "cifar10":
                raise
        root = synthetic_cifar10(data_dir, **synthetic_sizes)
        if announce:
            announce(f"CIFAR-10 not found in {data_dir} (download it, or give the folder that holds it); "
                     f"using the synthetic stand-in in {root}")
        return root / folder, "synthetic"
    return synthetic_cifar10(data_dir, **synthetic_sizes) / folder, "synthetic"
