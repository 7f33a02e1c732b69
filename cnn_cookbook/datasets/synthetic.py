"""The embedded offline defaults: synthetic MNIST digits and synthetic CIFAR-10 images (no TensorFlow).

Both are deterministic for a given RNG seed and learnable, so every recipe runs and trains
offline; :mod:`cnn_cookbook.datasets.mnist` and :mod:`cnn_cookbook.datasets.cifar10` write them
in the real files' formats.

MNIST (:func:`synthetic_digits`): each digit 0-9 is a set of pen strokes (polylines and
elliptic arcs in a unit box).  Every sample draws its own slant, rotation, aspect, stroke width,
per-point wobble, ink level and noise, renders the strokes anti-aliased into a 20x20 box and centres the result by its centre
of mass in a 28x28 frame, as MNIST was made.  Output: uint8 images [N, 28, 28] (0 background,
255 ink) and uint8 labels [N].

CIFAR-10 (:func:`synthetic_cifar_images`): ten classes of 32x32 colour images, each a
class-specific shape in a class colour (classes k and k+5 share a colour, so the network has to
learn shapes too) with random position, size, colour jitter, background gradient and noise.
"""

import numpy as np

DIGIT_SIZE = 28
DIGIT_BOX = 20  # MNIST fits each digit into 20x20 before centring it in 28x28
CIFAR_SIZE = 32  # CIFAR-10's side (this module reads no data set format, so it is not imported)
CIFAR_CLASSES = 10


def _arc(cx, cy, rx, ry, start, stop, points=16):
    """Points of an elliptic arc; angles in degrees, 0 = right, 90 = down (image y axis)."""
    angles = np.deg2rad(np.linspace(start, stop, points))
    return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)


def _line(*points):
    return np.asarray(points, dtype=np.float64)


def _glyphs():
    """Strokes per digit: a list of (K, 2) arrays of (x, y) in the unit box, y downwards."""
    return {
        0: [_arc(0.5, 0.5, 0.32, 0.46, 0, 360, 24)],
        1: [_line((0.32, 0.22), (0.55, 0.04), (0.55, 0.96))],
        2: [np.concatenate([_arc(0.5, 0.3, 0.3, 0.25, 180, 390),
                            _line((0.18, 0.95), (0.86, 0.95))])],
        3: [_arc(0.48, 0.27, 0.28, 0.23, 200, 450), _arc(0.48, 0.72, 0.32, 0.24, -90, 160)],
        4: [_line((0.66, 0.96), (0.66, 0.04), (0.14, 0.66), (0.9, 0.66))],
        5: [_line((0.8, 0.05), (0.3, 0.05), (0.25, 0.46)),
            _arc(0.5, 0.68, 0.3, 0.27, -150, 150)],
        6: [np.concatenate([_line((0.74, 0.04), (0.46, 0.22)), _arc(0.5, 0.68, 0.27, 0.27, 200, 560)])],
        7: [_line((0.12, 0.05), (0.86, 0.05), (0.4, 0.96))],
        8: [_arc(0.5, 0.27, 0.24, 0.22, 0, 360), _arc(0.5, 0.72, 0.3, 0.25, 0, 360)],
        9: [_arc(0.48, 0.3, 0.27, 0.26, 0, 360), _line((0.75, 0.32), (0.68, 0.96))],
    }


def _segments(strokes):
    """(S, 2, 2) array of the line segments making up a list of polylines."""
    return np.concatenate([np.stack([s[:-1], s[1:]], axis=1) for s in strokes])


def _sample_segments(digit_segments, rng):
    """Apply one sample's random pen: slant, rotation, aspect, wobble; map to 28x28 pixel units."""
    points = digit_segments.reshape(-1, 2) - 0.5
    points = points + rng.normal(0, 0.025, points.shape)          # wobbly hand
    slant = rng.uniform(-0.35, 0.35)
    angle = np.deg2rad(rng.uniform(-12, 12))
    sx, sy = rng.uniform(0.7, 1.1), rng.uniform(0.85, 1.05)
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shear = np.array([[1.0, -slant], [0.0, 1.0]])
    points = points @ np.diag([sx, sy]).T @ shear.T @ rotate.T
    # fit the longer side into the 20x20 box (less the pen's width), as MNIST's normalisation did
    low, high = points.min(axis=0), points.max(axis=0)
    points = (points - (low + high) / 2) * ((DIGIT_BOX - 3) / max((high - low).max(), 1e-6)) + DIGIT_SIZE / 2
    return points.reshape(digit_segments.shape)


def _render(segments, widths, pixel_centres):
    """Anti-aliased ink 0..1 for a batch: segments (B, S, 2, 2), widths (B,), pixels (P, 2)."""
    segments = segments.astype(np.float32)
    ax, ay = segments[:, None, :, 0, 0], segments[:, None, :, 0, 1]       # (B, 1, S)
    dx, dy = segments[:, None, :, 1, 0] - ax, segments[:, None, :, 1, 1] - ay
    px = pixel_centres[None, :, None, 0].astype(np.float32) - ax          # (B, P, S)
    py = pixel_centres[None, :, None, 1].astype(np.float32) - ay
    t = np.clip((px * dx + py * dy) / np.maximum(dx * dx + dy * dy, 1e-9), 0, 1)
    px -= t * dx
    py -= t * dy
    distance = np.sqrt((px * px + py * py).min(axis=2))                   # (B, P)
    return np.clip(widths[:, None] + 0.5 - distance, 0, 1)


def _centre_by_mass(image):
    total = image.sum()
    if total <= 0:
        return image
    rows, cols = np.indices(image.shape)
    dy = int(round(DIGIT_SIZE / 2 - 0.5 - (rows * image).sum() / total))
    dx = int(round(DIGIT_SIZE / 2 - 0.5 - (cols * image).sum() / total))
    # but never push a stroke off the frame: keep 2 pixels clear on every side
    ink_rows, ink_cols = np.nonzero(image > 0.05)
    dy = int(np.clip(dy, 2 - ink_rows.min(), DIGIT_SIZE - 3 - ink_rows.max()))
    dx = int(np.clip(dx, 2 - ink_cols.min(), DIGIT_SIZE - 3 - ink_cols.max()))
    shifted = np.zeros_like(image)  # shift without wrapping ink round to the other side
    rows_to = slice(max(dy, 0), DIGIT_SIZE + min(dy, 0))
    rows_from = slice(max(-dy, 0), DIGIT_SIZE + min(-dy, 0))
    cols_to = slice(max(dx, 0), DIGIT_SIZE + min(dx, 0))
    cols_from = slice(max(-dx, 0), DIGIT_SIZE + min(-dx, 0))
    shifted[rows_to, cols_to] = image[rows_from, cols_from]
    return shifted


def synthetic_digits(count, seed, chunk=500, bar=None):
    """``count`` synthetic digits: (uint8 images [count, 28, 28], uint8 labels [count]).

    Deterministic per ``seed``; labels are balanced and shuffled.  ``bar``: a progress bar
    (:func:`cnn_cookbook.progress.bar`) advanced by each image drawn.
    """
    rng = np.random.default_rng(seed)
    glyph_segments = {d: _segments(s) for d, s in _glyphs().items()}
    most = max(len(s) for s in glyph_segments.values())
    labels = rng.permutation(np.arange(count) % 10).astype(np.uint8)
    ys, xs = np.mgrid[0:DIGIT_SIZE, 0:DIGIT_SIZE]
    pixel_centres = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    images = np.empty((count, DIGIT_SIZE, DIGIT_SIZE), np.uint8)
    for start in range(0, count, chunk):
        batch_labels = labels[start:start + chunk]
        # unused segment slots are parked far away so they never draw
        segments = np.full((len(batch_labels), most, 2, 2), -1e3)
        for i, digit in enumerate(batch_labels):
            own = _sample_segments(glyph_segments[int(digit)], rng)
            segments[i, :len(own)] = own
        widths = rng.uniform(0.6, 1.7, len(batch_labels))
        ink = _render(segments, widths, pixel_centres).reshape(-1, DIGIT_SIZE, DIGIT_SIZE)
        ink *= rng.uniform(0.75, 1.0, (len(batch_labels), 1, 1))
        ink += rng.normal(0, 0.04, ink.shape) * (rng.random(ink.shape) < 0.15)  # sparse sensor noise
        for i in range(len(batch_labels)):
            images[start + i] = np.clip(_centre_by_mass(ink[i]) * 255, 0, 255).round()
        if bar is not None:
            bar.update(len(batch_labels))
    return images, labels


# ---------------------------------------------------------------------------------------------
# CIFAR-10


def _class_colours():
    # foreground colour per class (RGB 0..1); classes k and k+5 share one, so colour alone
    # cannot tell all ten apart and the network has to learn shapes too
    palette = np.array([[0.9, 0.2, 0.2], [0.2, 0.8, 0.2], [0.2, 0.3, 0.95], [0.95, 0.85, 0.2],
                        [0.85, 0.3, 0.85]])
    return np.concatenate([palette, palette])


def _shape_mask(kind, yy, xx, cy, cx, radius, phase):
    """A 0/1 mask [N, 32, 32] of shape ``kind`` around (cy, cx) per image."""
    dy, dx = yy - cy[:, None, None], xx - cx[:, None, None]
    r = radius[:, None, None]
    dist = np.sqrt(dy ** 2 + dx ** 2)
    if kind == 0:   # filled disc
        return dist <= r
    if kind == 1:   # filled square
        return np.maximum(abs(dy), abs(dx)) <= r * 0.85
    if kind == 2:   # ring
        return (dist <= r) & (dist >= r * 0.55)
    if kind == 3:   # plus sign
        return ((abs(dy) <= r * 0.3) & (abs(dx) <= r)) | ((abs(dx) <= r * 0.3) & (abs(dy) <= r))
    if kind == 4:   # triangle (apex up)
        return (dy <= r * 0.7) & (dy >= -r) & (abs(dx) <= (dy + r) * 0.6)
    if kind == 5:   # horizontal stripes inside a disc
        return (dist <= r * 1.2) & (np.sin(yy * 1.3 + phase[:, None, None]) > 0)
    if kind == 6:   # vertical stripes inside a disc
        return (dist <= r * 1.2) & (np.sin(xx * 1.3 + phase[:, None, None]) > 0)
    if kind == 7:   # checkerboard patch
        return (np.maximum(abs(dy), abs(dx)) <= r) & \
            ((np.floor((yy + phase[:, None, None]) / 3) + np.floor(xx / 3)) % 2 == 0)
    if kind == 8:   # diagonal bar
        return (abs(dy - dx) <= r * 0.35) & (dist <= r * 1.3)
    return (abs(dy) <= r * 0.35) & (abs(dx) <= r * 1.3)   # 9: horizontal bar


def synthetic_cifar_images(labels, rng):
    """Images [N, 32, 32, 3] uint8 for ``labels``: a class-specific shape in a class colour,
    with random position, size, colour jitter, background gradient and pixel noise."""
    labels = np.asarray(labels)
    n = len(labels)
    yy, xx = np.mgrid[0:CIFAR_SIZE, 0:CIFAR_SIZE].astype(np.float32)
    # background: a random colour with a random linear gradient
    base = rng.uniform(0.05, 0.6, (n, 1, 1, 3))
    slope = rng.uniform(-0.012, 0.012, (n, 1, 1, 2))
    images = base + slope[..., :1] * yy[None, :, :, None] + slope[..., 1:] * xx[None, :, :, None]
    images = np.broadcast_to(images, (n, CIFAR_SIZE, CIFAR_SIZE, 3)).copy()
    cy, cx = rng.uniform(10, 22, n), rng.uniform(10, 22, n)
    radius = rng.uniform(5.5, 10.0, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    colours = _class_colours()[labels] + rng.normal(0, 0.08, (n, 3))
    for kind in range(CIFAR_CLASSES):
        index = np.flatnonzero(labels == kind)
        if index.size == 0:
            continue
        mask = _shape_mask(kind, yy, xx, cy[index], cx[index], radius[index], phase[index])
        chosen = images[index]
        chosen[mask] = np.repeat(colours[index][:, None, None, :], CIFAR_SIZE * CIFAR_SIZE, 0).reshape(
            len(index), CIFAR_SIZE, CIFAR_SIZE, 3)[mask]
        images[index] = chosen
    images += rng.normal(0, 0.06, images.shape)
    return np.clip(images * 255, 0, 255).round().astype(np.uint8)


def balanced_labels(classes, per_class, rng):
    """``per_class`` labels of each class 0..``classes``-1, shuffled by ``rng``."""
    labels = np.repeat(np.arange(classes), per_class)
    return labels[rng.permutation(len(labels))]
