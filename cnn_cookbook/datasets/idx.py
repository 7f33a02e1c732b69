"""The idx file format of MNIST and Fashion-MNIST (no TensorFlow).

Big-endian header: two zero bytes, a type byte (0x08 = uint8), the number of dimensions, then
one uint32 per dimension; the payload is the product of the dimensions in bytes.  Files may be
gzip-compressed (``.gz``).
"""

import functools
import gzip
import io
import operator
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from cnn_cookbook.errors import DataFormatError
from cnn_cookbook.fileio import write_bytes_atomic

IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension


#: read compressed payloads in pieces, so a file that inflates far beyond its header's promise
#: (a decompression bomb) is refused after at most this much more than the header promised
_CHUNK = 1 << 22


def _damaged_gzip(path, exc):
    return DataFormatError(f"{path} is a damaged gzip file ({type(exc).__name__}: {exc}); delete it "
                           "and download it again")


def _read_exactly(stream, count, path):
    """Up to ``count + 1`` bytes of ``stream`` (one more than wanted reveals trailing data)."""
    parts, total = [], 0
    try:
        while total <= count:
            block = stream.read(min(_CHUNK, count + 1 - total))
            if not block:
                break
            parts.append(block)
            total += len(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise _damaged_gzip(path, exc) from None
    return b"".join(parts)


def read_idx(path, expect_magic=None):
    """Read an idx file (raw or gzip) into a uint8 array with the dimensions in its header.

    Checks the magic number (against ``expect_magic`` when given), the dimensions and that the
    payload holds exactly the bytes the header promises.  The size is computed with Python
    integers (no overflow) and compared with what is there before anything that large is read.
    """
    path = Path(path)
    with open(path, "rb") as raw_file:
        compressed = raw_file.read(2) == b"\x1f\x8b"
        raw_file.seek(0)
        stream = gzip.GzipFile(fileobj=raw_file) if compressed else raw_file
        head = _read_exactly(stream, 3, path)
        if len(head) < 4:
            raise DataFormatError(f"{path} is too short to be an idx file ({len(head)} bytes); "
                                  "delete it and download it again")
        magic, = struct.unpack(">I", head)
        if magic >> 16 != 0 or (magic >> 8) & 0xFF != 0x08:
            raise DataFormatError(f"{path} has magic number 0x{magic:08x}, which is not an idx uint8 "
                                  "file; check that it is an MNIST-format file")
        if expect_magic is not None and magic != expect_magic:
            raise DataFormatError(f"{path} has magic number 0x{magic:08x} but 0x{expect_magic:08x} was "
                                  "expected (images vs labels swapped?)")
        ndim = magic & 0xFF
        dims_raw = _read_exactly(stream, 4 * ndim - 1, path) if ndim else b""
        if len(dims_raw) < 4 * ndim:
            raise DataFormatError(f"{path} is truncated inside its header; delete it and download it again")
        dims = struct.unpack(f">{ndim}I", dims_raw)
        expected = functools.reduce(operator.mul, dims, 1)
        if not compressed:
            available = os.fstat(raw_file.fileno()).st_size - 4 - 4 * ndim
            if available != expected:
                raise _size_mismatch(path, available, dims, expected)
        payload = _read_exactly(stream, expected, path)
    if len(payload) != expected:
        shown = f"more than {expected}" if len(payload) > expected else str(len(payload))
        raise _size_mismatch(path, shown, dims, expected)
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def _size_mismatch(path, payload, dims, expected):
    return DataFormatError(f"{path} holds {payload} bytes of data but its header {tuple(dims)} "
                           f"promises {expected}; the file is truncated or corrupt, delete it "
                           "and download it again")


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
