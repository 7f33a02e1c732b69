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
import tempfile
from pathlib import Path

import numpy as np

from cnn_cookbook.errors import CookbookError, DataFormatError


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


def ensure_writable_dir(path):
    """:func:`ensure_dir`, then prove that a file can be created there (a permission bit, a
    read-only mount or a full disk shows only when writing), so a run stops at its start rather
    than losing what it writes later."""
    path = ensure_dir(path)
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise CookbookError(f"folder {path} is not writable ({exc.strerror}); fix its permissions or free "
                            "disk space, or choose another --output-dir") from None
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
    import shutil

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
    import imageio.v3 as iio

    array = np.clip(np.asarray(image, dtype=np.float64), 0, 255).round().astype(np.uint8)
    path = Path(path)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, array, extension=path.suffix or ".png")
    return path


#: the largest image (in pixels) read unless ``--max-pixels`` allows more: 40 megapixels is a
#: large camera photo; a 12000x12000 PNG of a few hundred KB would need gigabytes once decoded
DEFAULT_MAX_PIXELS = 40_000_000
#: the limit in force (recipes set it from ``--max-pixels``)
MAX_PIXELS = DEFAULT_MAX_PIXELS


class UnreadableImage(DataFormatError):
    """A file that should be an image cannot be decoded (folder data sets skip and list it)."""


class ImageTooLarge(UnreadableImage):
    """An image with more pixels than :data:`MAX_PIXELS` (refused before it is decoded)."""


def read_image(path, mode="RGB", max_pixels=None, min_size=None, purpose="this recipe"):
    """Decode an image file to uint8, [H, W, 3] for ``mode`` "RGB" or [H, W] for "L" (grey).

    The one image reader of the package.  Every PIL mode is converted correctly: grey and
    1-bit images are spread to three channels, palettes are looked up, alpha (LA, PA, RGBA) is
    dropped, CMYK is converted to RGB, 16-bit grey (I;16, I) is scaled to 0..255; the first
    frame of an animation is used.  Returns ``(image, notes)``: the notes say what was
    converted (empty list when nothing was).

    The size is read from the header and checked before anything is decoded: more than
    ``max_pixels`` (default :data:`MAX_PIXELS`) is :class:`ImageTooLarge`; a side shorter than
    ``min_size`` is a :class:`CookbookError` saying what ``purpose`` needs.  A missing file is a
    :class:`CookbookError`, anything undecodable an :class:`UnreadableImage`.
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise CookbookError(f"image {path} does not exist; check the path")
    limit = max_pixels or MAX_PIXELS
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < limit:
        Image.MAX_IMAGE_PIXELS = limit  # PIL's own bomb check (at twice this) must not undercut ours
    try:
        with warnings.catch_warnings():
            # our own limit is checked below; PIL's warning would be a second line on stderr
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > limit:
                    raise ImageTooLarge(f"image {path} is {width}x{height} = {width * height / 1e6:.0f} "
                                        f"megapixels, over the limit of {limit / 1e6:g}; shrink it, or "
                                        "raise the limit with --max-pixels if you have the memory")
                if min_size and min(width, height) < min_size:
                    raise CookbookError(f"image {path} is {width}x{height} pixels; {purpose} needs at "
                                        f"least {min_size}x{min_size}: give a larger image")
                image.load()
                array, notes = _convert(image, mode)
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"image {path} claims more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, "
                            f"over the limit of {limit / 1e6:g} (a decompression bomb?); refusing to decode "
                            "it; raise the limit with --max-pixels if the image is real") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        reason = f" ({str(exc)[:80]})" if str(exc) else ""
        raise UnreadableImage(f"cannot read image {path}: {type(exc).__name__}{reason}; replace it "
                              "with a PNG or JPEG file") from None
    return array, notes


def _convert(image, mode):
    """PIL image -> (uint8 array in ``mode`` "RGB"/"L", notes)."""
    notes = []
    source = image.mode
    if source in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        # 16-bit images use 0..65535; a 32-bit "I" or float image is taken as 16-bit when it
        # exceeds 8-bit values, else as 0..255
        scale = 257.0 if source.startswith("I;16") or values.max(initial=0) > 255 else 1.0
        grey = np.clip(np.round(values / scale), 0, 255).astype(np.uint8)
        notes.append(f"{source} (high bit depth) scaled to 8 bits")
        return (np.stack([grey] * 3, axis=-1) if mode == "RGB" else grey), notes
    if "A" in source or (source == "P" and "transparency" in image.info):
        notes.append("alpha channel dropped")
        image = image.convert("RGBA" if source not in ("LA", "La") else "LA")
    if mode == "L":
        if image.mode not in ("L", "LA", "La"):
            notes.append(f"{source} converted to greyscale")
        return np.asarray(image.convert("L"), dtype=np.uint8), notes
    if image.mode in ("1", "L", "LA", "La"):
        notes.append("greyscale converted to RGB")
    elif source == "CMYK":
        notes.append("CMYK converted to RGB")
    elif source not in ("RGB", "RGBA", "RGBa", "P", "PA"):
        notes.append(f"{source} converted to RGB")
    return np.asarray(image.convert("RGB"), dtype=np.uint8), notes


def load_image(path, max_size=None, min_size=None, purpose="this recipe"):
    """Read an image file as float32 RGB HxWx3, 0..255, through :func:`read_image`.

    ``max_size`` bounds the longer side (the image is shrunk, never enlarged).  A message is
    returned with the image when anything was converted or resized, else None.
    """
    image, notes = read_image(path, "RGB", min_size=min_size, purpose=purpose)
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


def load_image_or_photo(spec, max_size=None, min_size=None, purpose="this recipe"):
    """:func:`load_image` for a file path, or one of :data:`BUNDLED_PHOTOS` by name: ``(float32
    HxWx3 RGB 0..255, note or None)``."""
    if str(spec) in BUNDLED_PHOTOS:
        from cnn_cookbook.progress import quiet_tqdm_auto

        with quiet_tqdm_auto():  # skimage.data loads lazily: pooch is imported by the getattr
            import skimage.data

            photo = getattr(skimage.data, str(spec))()
        return shrink_to_max_size(photo[..., :3], max_size)
    return load_image(spec, max_size, min_size, purpose)
