"""Image files: the one reader and the PNG/JPEG encoders (no TensorFlow).

:func:`read_image` decodes every file the recipes read, through PIL, after checking its size in
the header; :func:`load_image_or_photo` adds the photographs bundled with scikit-image.
Writing an image to disk atomically is :func:`cnn_cookbook.fileio.save_image`.
"""

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnn_cookbook.errors import CookbookError, DataFormatError
from cnn_cookbook.progress import quiet_tqdm_auto

#: the largest image (in pixels) read unless ``--max-pixels`` allows more: 40 megapixels is a
#: large camera photo; a 12000x12000 PNG of a few hundred KB would need gigabytes once decoded
DEFAULT_MAX_PIXELS = 40_000_000
#: the limit in force (recipes set it from ``--max-pixels``)
MAX_PIXELS = DEFAULT_MAX_PIXELS


class UnreadableImage(DataFormatError):
    """A file that should be an image cannot be decoded (folder data sets skip and list it)."""


class ImageTooLarge(UnreadableImage):
    """An image with more pixels than :data:`MAX_PIXELS` (refused before it is decoded)."""


def read_image(path, mode="RGB", max_pixels=None, min_size=None, purpose="this recipe", dtype=np.uint8,
               max_size=None):
    """Decode an image file: [H, W, 3] for ``mode`` "RGB" or [H, W] for "L" (grey), values 0..255.

    The one image reader of the package.  Every PIL mode is converted correctly: grey and
    1-bit images are spread to three channels, palettes are looked up, alpha (LA, PA, RGBA) is
    dropped, CMYK is converted to RGB, 16-bit grey (I;16, I) is scaled to 0..255; the first
    frame of an animation is used.  Returns ``(image, notes)``: the notes say what was
    converted or resized (empty list when nothing was).

    ``dtype`` is the array's type, never its scale: ``np.uint8`` (the default, what folder data
    sets and encoders take) or ``np.float32`` (the same 0..255 values, what the optimised images
    of style transfer and DeepDream start from).  ``max_size`` bounds the longer side: larger
    images are shrunk by :func:`shrink_to_max_size` (anti-aliased; uint8 is rounded back).

    The size is read from the header and checked before anything is decoded: more than
    ``max_pixels`` (default :data:`MAX_PIXELS`) is :class:`ImageTooLarge`; a side shorter than
    ``min_size`` is a :class:`CookbookError` saying what ``purpose`` needs.  A missing file is a
    :class:`CookbookError`, anything undecodable an :class:`UnreadableImage`.
    """
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
                                        "raise the pixel limit if you have the memory", field="max_pixels")
                if min_size and min(width, height) < min_size:
                    raise CookbookError(f"image {path} is {width}x{height} pixels; {purpose} needs at "
                                        f"least {min_size}x{min_size}: give a larger image")
                image.load()
                array, notes = _convert(image, mode)
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"image {path} claims more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, "
                            f"over the limit of {limit / 1e6:g} (a decompression bomb?); refusing to decode "
                            "it; raise the pixel limit if the image is real", field="max_pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        reason = f" ({str(exc)[:80]})" if str(exc) else ""
        raise UnreadableImage(f"cannot read image {path}: {type(exc).__name__}{reason}; replace it "
                              "with a PNG or JPEG file") from None
    if max_size:
        array, note = shrink_to_max_size(array, max_size)
        if note:
            notes.append(note)
    if np.dtype(dtype) == np.uint8 and array.dtype != np.uint8:  # shrunk: back from float
        array = np.clip(np.round(array), 0, 255)
    return np.asarray(array, dtype=dtype), notes


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


def shrink_to_max_size(image, max_size=None):
    """``(image, note)``: HxWxC float32 ``image`` shrunk (anti-aliased, aspect kept) so that its
    longer side is at most ``max_size``; never enlarged.  ``note`` says what was done, else None."""
    image = np.asarray(image, dtype=np.float32)
    if not max_size or max(image.shape[:2]) <= max_size:
        return image, None
    # imported here: it pulls in scipy.ndimage (1-2 s), which only shrinking needs
    from skimage.transform import resize

    scale = max_size / max(image.shape[:2])
    shape = (max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale)))
    note = (f"resized from {image.shape[1]}x{image.shape[0]} to {shape[1]}x{shape[0]} "
            f"(--max-size {max_size})")
    return resize(image, shape, order=1, preserve_range=True, anti_aliasing=True).astype(np.float32), note


#: photographs bundled with scikit-image that recipes accept by name instead of a file (no download)
BUNDLED_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")


def load_image_or_photo(spec, max_size=None, min_size=None, purpose="this recipe"):
    """A file path through :func:`read_image`, or one of :data:`BUNDLED_PHOTOS` by name:
    ``(float32 HxWx3 RGB 0..255, note or None)``, the notes joined in one line."""
    if str(spec) in BUNDLED_PHOTOS:
        with quiet_tqdm_auto():  # skimage.data loads lazily: pooch is imported by the getattr
            import skimage.data

            photo = getattr(skimage.data, str(spec))()
        return shrink_to_max_size(photo[..., :3], max_size)
    image, notes = read_image(spec, "RGB", min_size=min_size, purpose=purpose, dtype=np.float32, max_size=max_size)
    return image, ("; ".join(notes) or None)


def read_image_rgb(path):
    """``read_image(path)[0]``: uint8 RGB [H, W, 3], for callers that need no notes (folder data
    sets skip files that raise :class:`UnreadableImage`)."""
    return read_image(path, "RGB")[0]


def encode_png(image):
    """uint8 HxWx3 -> PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def encode_jpeg(image, quality=95):
    """uint8 HxWx3 -> JPEG bytes (RGB, baseline, no chroma subsampling: small images keep colour)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB").save(
        buffer, format="JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()
