"""The idx reader/writer and the MNIST folder loader: round trip and every corruption."""

import gzip

import numpy as np
import pytest

from cnn_cookbook.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, write_idx
from cnn_cookbook.datasets.mnist import FILES, load_mnist, read_idx_folder
from cnn_cookbook.errors import DataFormatError, MissingFileError


@pytest.mark.parametrize("name", ["images-idx3-ubyte.gz", "images-idx3-ubyte"])
def test_round_trip_gz_and_raw(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / name, images)
    back = read_idx(tmp_path / name, IMAGES_MAGIC)
    assert back.dtype == np.uint8 and back.shape == (7, 28, 28)
    np.testing.assert_array_equal(back, images)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")


def _raw(tmp_path, array):
    path = write_idx(tmp_path / "x-idx", array)
    return path, path.read_bytes()


def test_truncated_payload_is_refused(tmp_path):
    path, raw = _raw(tmp_path, np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(raw[:-10])
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        read_idx(path)


def test_truncated_header_and_empty_file(tmp_path):
    path, raw = _raw(tmp_path, np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(raw[:9])
    with pytest.raises(DataFormatError, match="header"):
        read_idx(path)
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match="too short"):
        read_idx(path)


def test_wrong_magic_is_refused(tmp_path):
    path, raw = _raw(tmp_path, np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(b"\x12\x34" + raw[2:])
    with pytest.raises(DataFormatError, match="magic number 0x1234"):
        read_idx(path)
    # a valid labels file where images are expected (the two files swapped)
    labels, _ = _raw(tmp_path, np.zeros(3, np.uint8))
    with pytest.raises(DataFormatError, match="swapped"):
        read_idx(labels, IMAGES_MAGIC)


def test_damaged_gzip_is_refused(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x05" + bytes(5))[:-6])
    with pytest.raises(DataFormatError, match="damaged gzip"):
        read_idx(path, LABELS_MAGIC)


def _folder(tmp_path, train=6, test=3, train_labels=None):
    rng = np.random.default_rng(1)
    write_idx(tmp_path / FILES["train_images"], rng.integers(0, 256, (train, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / FILES["train_labels"], rng.integers(0, 10, train_labels or train, dtype=np.uint8))
    write_idx(tmp_path / FILES["test_images"], rng.integers(0, 256, (test, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / FILES["test_labels"], rng.integers(0, 10, test, dtype=np.uint8))
    return tmp_path


def test_idx_folder_splits_like_tf1(tmp_path):
    train, validation, test = read_idx_folder(_folder(tmp_path, train=8), validation_size=3)
    assert (len(train), len(validation), len(test)) == (5, 3, 3)
    assert train.images.shape == (5, 28, 28, 1) and train.images.dtype == np.float32
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    # validation is the *last* part of the training file
    from cnn_cookbook.datasets.idx import read_idx as raw_read
    raw = raw_read(tmp_path / FILES["train_images"])
    np.testing.assert_allclose(validation.images[..., 0], raw[-3:] / 255.0, rtol=1e-6)


def test_count_mismatch_and_missing_files(tmp_path):
    with pytest.raises(DataFormatError, match="do not belong together"):
        read_idx_folder(_folder(tmp_path, train=8, train_labels=7), validation_size=3)
    (tmp_path / FILES["test_labels"]).unlink()
    with pytest.raises(MissingFileError, match="t10k-labels"):
        load_mnist("idx", tmp_path)


def test_next_batch_walks_epochs_without_repeats():
    from cnn_cookbook.datasets.mnist import Split

    split = Split(np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1), np.arange(10, dtype=np.int32))
    rng = np.random.default_rng(3)
    seen = np.concatenate([split.next_batch(4, rng)[1] for _ in range(5)])  # 20 = two epochs
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:]) == list(range(10))
