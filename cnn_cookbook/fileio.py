"""Atomic file writing and small I/O helpers (no TensorFlow).

Everything the package writes goes through a temp file in the same folder and ``os.replace``,
so a crash or a full disk never leaves a half-written file where a good one was.
"""

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from cnn_cookbook.errors import CookbookError


def ensure_dir(path):
    """Create ``path`` (and parents); a clear error when that is impossible."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CookbookError(f"cannot create folder {path}: {exc.strerror}; choose another "
                            "--output-dir or fix its permissions") from None
    if not os.access(path, os.W_OK):
        raise CookbookError(f"folder {path} is not writable; choose another --output-dir "
                            "or fix its permissions")
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
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path):
    """Yield an empty temp folder beside ``path``; on success it replaces ``path`` whole.

    An interrupted writer leaves either the old folder or the complete new one, never a mix.
    """
    import shutil

    path = Path(path)
    ensure_dir(path.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
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
    import imageio.v3 as iio

    array = np.clip(np.asarray(image, dtype=np.float64), 0, 255).round().astype(np.uint8)
    path = Path(path)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, array, extension=path.suffix or ".png")
    return path


def load_image(path, max_size=None):
    """Read an image file as float32 RGB HxWx3, 0..255; greyscale and RGBA are converted.

    ``max_size`` bounds the longer side (the image is shrunk, never enlarged).  A message is
    returned with the image when anything was converted or resized, else None.
    """
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise CookbookError(f"image {path} does not exist; check the path")
    try:
        image = iio.imread(path)
    except Exception as exc:  # imageio raises many kinds for bad files
        raise CookbookError(f"cannot read image {path} ({type(exc).__name__}); "
                            "give a PNG or JPEG file") from None
    notes = []
    image = np.asarray(image)
    if image.ndim == 4:
        image = image[0]  # first frame of an animated GIF/PNG
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
        notes.append("greyscale converted to RGB")
    elif image.shape[-1] == 4:
        image = image[..., :3]
        notes.append("alpha channel dropped")
    elif image.shape[-1] == 1:
        image = np.concatenate([image] * 3, axis=-1)
        notes.append("greyscale converted to RGB")
    if image.dtype == np.uint16:
        image = image / 257.0
    image, note = shrink_to_max_size(image.astype(np.float32), max_size)
    if note:
        notes.append(note)
    return image, ("; ".join(notes) or None)


def shrink_to_max_size(image, max_size=None):
    """``(image, note)``: HxWxC float32 ``image`` shrunk (anti-aliased, aspect kept) so that its
    longer side is at most ``max_size``; never enlarged.  ``note`` says what was done, else None."""
    image = np.asarray(image, dtype=np.float32)
    if not max_size or max(image.shape[:2]) <= max_size:
        return image, None
    from skimage.transform import resize

    scale = max_size / max(image.shape[:2])
    shape = (max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale)))
    note = (f"resized from {image.shape[1]}x{image.shape[0]} to {shape[1]}x{shape[0]} "
            f"(--max-size {max_size})")
    return resize(image, shape, order=1, preserve_range=True, anti_aliasing=True).astype(np.float32), note


#: photographs bundled with scikit-image that recipes accept by name instead of a file (no download)
BUNDLED_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")


def load_image_or_photo(spec, max_size=None):
    """:func:`load_image` for a file path, or one of :data:`BUNDLED_PHOTOS` by name: ``(float32
    HxWx3 RGB 0..255, note or None)``."""
    if str(spec) in BUNDLED_PHOTOS:
        import skimage.data

        return shrink_to_max_size(getattr(skimage.data, str(spec))()[..., :3], max_size)
    return load_image(spec, max_size)
