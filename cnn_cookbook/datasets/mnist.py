"""MNIST-format data sets: real MNIST, Fashion-MNIST, a user's idx folder, or the synthetic default.

Replaces the removed ``tensorflow.examples.tutorials.mnist``: the same train / validation (the
last 5000 training images, as TF1 held out; a tenth of a training file under 10000 images) / test
splits and a ``next_batch``, with images as
float32 [N, 28, 28, 1] in 0..1 and labels as int32 class ids (no TensorFlow needed).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnn_cookbook.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, write_idx
from cnn_cookbook.datasets.synthetic import synthetic_digits
from cnn_cookbook.errors import CookbookError, DataFormatError, MissingFileError
from cnn_cookbook.io import downloads
from cnn_cookbook.paths import data_root
from cnn_cookbook.progress import bar

DATASETS = ("auto", "mnist", "fashion", "synthetic", "idx")
FILES = {"train_images": "train-images-idx3-ubyte.gz", "train_labels": "train-labels-idx1-ubyte.gz",
         "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz"}
DIGITS = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
VALIDATION_SIZE = 5000
#: sizes and seeds of the embedded synthetic set (train includes the validation split)
SYNTHETIC = {"train": 15000, "test": 3000, "train_seed": 20161, "test_seed": 90210, "version": 2}


@dataclass
class Split:
    """One split: ``images`` float32 [N, 28, 28, 1] in 0..1 and ``labels`` int32 [N]."""

    images: np.ndarray
    labels: np.ndarray
    _order: np.ndarray = field(default=None, repr=False)
    _cursor: int = field(default=0, repr=False)

    def __len__(self):
        return len(self.labels)

    def next_batch(self, batch_size, rng):
        """The next ``batch_size`` examples of a shuffled pass; reshuffled each epoch (as TF1)."""
        picked = []
        while batch_size > 0:
            if self._order is None or self._cursor >= len(self._order):
                self._order, self._cursor = rng.permutation(len(self.labels)), 0
            take = self._order[self._cursor:self._cursor + batch_size]
            self._cursor += len(take)
            batch_size -= len(take)
            picked.append(take)
        index = np.concatenate(picked)
        return self.images[index], self.labels[index]

    def shard(self, index, count):
        """Every ``count``-th example from ``index``: disjoint shards that together cover the split."""
        return Split(self.images[index::count], self.labels[index::count])

    def sample(self, batch_size, rng):
        """``batch_size`` examples drawn with replacement (the cookbook's np.random.choice)."""
        index = rng.integers(0, len(self.labels), batch_size)
        return self.images[index], self.labels[index]


@dataclass
class MnistData:
    train: Split
    validation: Split
    test: Split
    name: str                 # which data set was used: mnist, fashion, synthetic or idx:<dir>
    class_names: tuple = DIGITS
    source: Path = None       # folder the idx files were read from

    @property
    def image_shape(self):
        return self.train.images.shape[1:]


def file_names(key):
    """The names ``key``'s file goes by, in the order they are looked for: MNIST's own
    (``train-images-idx3-ubyte.gz``, or uncompressed) and the common copies' dotted style
    (``train-images.idx3-ubyte``, gzipped or not)."""
    base = FILES[key][:-len(".gz")]
    dotted = base.replace("-idx", ".idx", 1)
    return (f"{base}.gz", base, dotted, f"{dotted}.gz")


def _find_files(directory):
    """``{key: path}`` of the idx files found in ``directory`` under any of :func:`file_names`."""
    directory = Path(directory)
    found = {}
    for key in FILES:
        for name in file_names(key):
            if (directory / name).is_file():
                found[key] = directory / name
                break
    return found


def default_validation_size(train_count):
    """TF1's 5000 for a training file of at least 10000 images (MNIST, Fashion-MNIST, the
    synthetic digits), else a tenth of it (at least one image), so small sets of users' own
    digits keep most of their images for training."""
    if train_count >= 2 * VALIDATION_SIZE:
        return VALIDATION_SIZE
    return max(1, train_count // 10)


def _check_labels(labels, path, num_classes):
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise DataFormatError(f"{path} has {bad.size} label(s) outside 0..{num_classes - 1} (the first: "
                              f"{int(labels[bad[0]])} at index {int(bad[0])}); an MNIST-format set here "
                              f"has {num_classes} classes")


def read_idx_folder(directory, validation_size=None, num_classes=len(DIGITS)):
    """Read the four idx files in ``directory`` into train / validation / test splits.

    The last ``validation_size`` training images are the validation split (default:
    :func:`default_validation_size`).  Labels must lie in 0..``num_classes - 1``; an empty
    split, or one that would leave no training image, is refused.
    """
    directory = Path(directory)
    files = _find_files(directory)
    missing = [key for key in FILES if key not in files]
    if missing:
        wanted = ", ".join(" or ".join(file_names(key)[1:3]) + " (.gz or not)" for key in missing)
        raise MissingFileError(f"{directory} lacks {len(missing)} of the 4 idx files: {wanted}; an idx "
                               "folder needs the training and test images and labels under these names")
    arrays = {key: read_idx(path, IMAGES_MAGIC if key.endswith("images") else LABELS_MAGIC)
              for key, path in files.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if len(images) != len(labels):
            raise DataFormatError(f"{files[part + '_images']} has {len(images)} images but "
                                  f"{files[part + '_labels']} has {len(labels)} labels; the files "
                                  "do not belong together")
        if len(images) == 0:
            raise DataFormatError(f"{files[part + '_images']} holds no images; the {part} split "
                                  "needs at least one")
        if images.shape[1:] != (28, 28):
            raise DataFormatError(f"{files[part + '_images']} holds {images.shape[1:]} images, "
                                  "not 28x28")
        _check_labels(labels, files[part + "_labels"], num_classes)
    train_images, train_labels = arrays["train_images"], arrays["train_labels"]
    if validation_size is None:
        validation_size = default_validation_size(len(train_labels))
    if not 0 <= validation_size < len(train_labels):
        raise DataFormatError(f"{files['train_images']} has {len(train_labels)} images; a validation set "
                              f"of {validation_size} must leave at least one for training (hold out "
                              f"{len(train_labels) - 1} or fewer)", field="validation_size")

    def split(images, labels):
        return Split((images.astype(np.float32) / 255.0)[..., None], labels.astype(np.int32))

    cut = len(train_labels) - validation_size
    return (split(train_images[:cut], train_labels[:cut]),
            split(train_images[cut:], train_labels[cut:]),
            split(arrays["test_images"], arrays["test_labels"]))


def write_synthetic_mnist(directory, train=None, test=None, progress=False, announce=None):
    """Write the synthetic digits as the four MNIST idx files in ``directory`` (once).

    ``train`` / ``test`` default to :data:`SYNTHETIC`'s sizes; the seeds are always its own,
    so a given size always yields the same images.  ``progress``: show a progress bar;
    ``announce`` (e.g. print) is told in one line when the files are generated.
    """
    directory = Path(directory)
    stamp = directory / "synthetic.json"
    wanted = dict(SYNTHETIC, train=train or SYNTHETIC["train"], test=test or SYNTHETIC["test"])
    if len(_find_files(directory)) == len(FILES) and stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return directory
    if announce is not None:
        announce(f"generating the synthetic digits ({wanted['train']} train, {wanted['test']} test) "
                 f"into {directory}, once")
    for part, count, seed in (("train", wanted["train"], wanted["train_seed"]),
                              ("t10k", wanted["test"], wanted["test_seed"])):
        with bar(total=count, desc=f"synthetic digits ({part})", unit="img", enabled=progress) as shown:
            images, labels = synthetic_digits(count, seed, bar=shown)
        write_idx(directory / f"{part}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{part}-labels-idx1-ubyte.gz", labels)
    stamp.write_text(json.dumps(wanted))
    return directory


def default_dir(dataset):
    return data_root() / {"mnist": "mnist", "fashion": "fashion", "synthetic": "synthetic-mnist"}[dataset]


def _real(dataset, directory, download_missing):
    directory = Path(directory)
    found = _find_files(directory)
    for key, path in found.items():
        if path.name == FILES[key]:  # the published file (only the .gz files' hashes are known)
            downloads.fetch(f"{dataset}/{FILES[key]}", directory)
    missing = [key for key in FILES if key not in found]
    if missing and not download_missing:
        remotes = [downloads.remote_file(f"{dataset}/{FILES[key]}") for key in missing]
        bases = sorted({url[:-len(remotes[0].filename)] for url in remotes[0].urls})
        raise MissingFileError(f"{directory} lacks {', '.join(r.filename for r in remotes)}; download "
                               f"them from {' or '.join(bases)}, or place them by hand in "
                               f"{directory.resolve()}", field="download")
    for key in missing:
        downloads.fetch(f"{dataset}/{FILES[key]}", directory, download=True)
    return directory


def load_mnist(dataset="auto", data_dir=None, download=False, validation_size=None,
               announce=print, progress=True):
    """Load an MNIST-format data set as :class:`MnistData`.

    ``dataset``: ``mnist`` / ``fashion`` (found in ``data_dir`` or, with ``download``, fetched),
    ``idx`` (any folder with the four files under MNIST's names), ``synthetic`` (the embedded
    default, generated into ``data_dir`` once) or ``auto`` (MNIST if present or downloadable,
    else synthetic; ``announce`` is told which in one line).  ``validation_size``: the last
    training images held out (default :func:`default_validation_size`).  ``progress``: a
    progress bar while the synthetic digits are generated.
    """
    if dataset not in DATASETS:
        raise CookbookError(f"the data set must be one of {', '.join(DATASETS)}, not {dataset!r}",
                            field="dataset")
    if dataset == "idx" and data_dir is None:
        raise CookbookError("the idx data set needs a data folder holding the four idx files",
                            field="data_dir")
    if dataset == "auto":
        directory = Path(data_dir) if data_dir else default_dir("mnist")
        try:
            _real("mnist", directory, download)
            dataset = "mnist"
        except (MissingFileError, OSError):
            how = "could not be downloaded" if download else "downloading was not asked for"
            announce(f"MNIST is not in {directory} and {how}; using the embedded synthetic digits")
            dataset, data_dir = "synthetic", None
    directory = Path(data_dir) if data_dir else default_dir(dataset)
    if dataset in ("mnist", "fashion"):
        _real(dataset, directory, download)
    elif dataset == "synthetic":
        write_synthetic_mnist(directory, progress=progress, announce=announce)
    train, validation, test = read_idx_folder(directory, validation_size)
    name = f"idx:{directory}" if dataset == "idx" else dataset
    classes = FASHION_CLASSES if dataset == "fashion" else DIGITS
    return MnistData(train, validation, test, name, classes, directory)
