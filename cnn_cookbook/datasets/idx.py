"""The idx file format of MNIST and Fashion-MNIST (no TensorFlow).

Big-endian header: two zero bytes, a type byte (0x08 = uint8), the number of dimensions, then
one uint32 per dimension; the payload is the product of the dimensions in bytes.  Files may be
gzip-compressed (``.gz``).
"""

import gzip
import io
import struct
from pathlib import Path

import numpy as np

from cnn_cookbook.errors import DataFormatError
from cnn_cookbook.fileio import write_bytes_atomic

IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension


def _read_bytes(path):
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataFormatError(f"{path} is a damaged gzip file ({exc}); delete it and download "
                                  "it again") from None
    return raw


def read_idx(path, expect_magic=None):
    """Read an idx file (raw or gzip) into a uint8 array with the dimensions in its header.

    Checks the magic number (against ``expect_magic`` when given), the dimensions and that the
    payload holds exactly the bytes the header promises.
    """
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataFormatError(f"{path} is too short to be an idx file ({len(raw)} bytes); "
                              "delete it and download it again")
    magic, = struct.unpack(">I", raw[:4])
    if magic >> 16 != 0 or (magic >> 8) & 0xFF != 0x08:
        raise DataFormatError(f"{path} has magic number 0x{magic:08x}, which is not an idx uint8 "
                              "file; check that it is an MNIST-format file")
    if expect_magic is not None and magic != expect_magic:
        raise DataFormatError(f"{path} has magic number 0x{magic:08x} but 0x{expect_magic:08x} was "
                              "expected (images vs labels swapped?)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFormatError(f"{path} is truncated inside its header; delete it and download it again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(raw) - header
    if payload != expected:
        raise DataFormatError(f"{path} holds {payload} bytes of data but its header {tuple(dims)} "
                              f"promises {expected}; the file is truncated or corrupt, delete it "
                              "and download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def write_idx(path, array):
    """Write a uint8 array as an idx file (gzip-compressed when ``path`` ends in .gz), atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    if str(path).endswith(".gz"):
        # GzipFile, not gzip.compress: its mtime argument (for byte-identical output) is 3.8+.
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as stream:
            stream.write(data)
        data = buffer.getvalue()
    return write_bytes_atomic(path, data)
