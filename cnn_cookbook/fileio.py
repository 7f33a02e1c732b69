"""Atomic file writing and small I/O helpers (no TensorFlow).

Everything the package writes goes through a temp file in the same folder and ``os.replace``,
so a crash or a full disk never leaves a half-written file where a good one was.  The temp file
(0600 from ``mkstemp``) gets the mode a plain ``open()`` would have given it, so written files
honour the umask as TensorFlow's own files do.
"""

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from cnn_cookbook.errors import CookbookError


def ensure_dir(path, field=None):
    """Create ``path`` (and parents); a clear error when that is impossible.

    ``field``: the setting that chose ``path`` (``"output_dir"``, ``"data_dir"``, ...), carried
    by the error so that the command line can name its flag; the message itself names none.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CookbookError(f"cannot create folder {path}: {exc.strerror}; choose another folder "
                            "or fix its permissions", field=field) from None
    if not os.access(path, os.W_OK):
        raise CookbookError(f"folder {path} is not writable; choose another folder or fix its permissions",
                            field=field)
    return path


def current_umask():
    """The process umask: read from /proc where Linux has it, else set and restored at once."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _honour_umask(path, directory=False):
    # mkstemp/mkdtemp create 0600/0700 whatever the umask, so shared folders could not read them
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


#: errno values that mean "this cannot be written here" (full disk, quota, size, permission, read-only)
WRITE_FAULTS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS}


def ensure_writable_dir(path, field=None):
    """:func:`ensure_dir`, then prove that a file can be created there (a permission bit, a
    read-only mount or a full disk shows only when writing), so a run stops at its start rather
    than losing what it writes later."""
    path = ensure_dir(path, field)
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise CookbookError(f"folder {path} is not writable ({exc.strerror}); fix its permissions or free "
                            "disk space, or choose another folder", field=field) from None
    return path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temp path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _honour_umask(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(exc, OSError) and exc.errno in WRITE_FAULTS:  # the old file is intact
            raise CookbookError(f"cannot write {path} ({exc.strerror or exc}); free disk space or fix the "
                                "folder's permissions, then run again (files already written are kept)") from None
        raise


@contextlib.contextmanager
def atomic_dir(path):
    """Yield an empty temp folder beside ``path``; on success it replaces ``path`` whole.

    An interrupted writer leaves either the old folder or the complete new one, never a mix.
    """
    path = Path(path)
    ensure_dir(path.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
        _honour_umask(staging, directory=True)
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_bytes_atomic(path, data):
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically; NumPy scalars and Paths are converted."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_jsonable)
    return write_bytes_atomic(path, (text + "\n").encode())


def save_figure(fig, path, dpi=100):
    """Save a Matplotlib figure as PNG atomically and return the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    return Path(path)


def save_image(path, image):
    """Write an HxW or HxWxC image with values 0..255 as PNG/JPEG (by suffix), clipped, atomically."""
    array = np.clip(np.asarray(image, dtype=np.float64), 0, 255).round().astype(np.uint8)
    path = Path(path)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, array, extension=path.suffix or ".png")
    return path
