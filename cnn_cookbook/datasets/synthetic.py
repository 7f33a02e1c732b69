"""The embedded offline default for MNIST: synthetic handwriting-like digits (no TensorFlow).

Each digit 0-9 is a set of pen strokes (polylines and elliptic arcs in a unit box).  Every
sample draws its own slant, rotation, aspect, stroke width, per-point wobble, ink level and
noise, renders the strokes anti-aliased into a 20x20 box and centres the result by its centre
of mass in a 28x28 frame, as MNIST was made.  Output: uint8 images [N, 28, 28] (0 background,
255 ink) and uint8 labels [N], deterministic for a given seed.
"""

import numpy as np

IMAGE_SIZE = 28
BOX = 20  # MNIST fits each digit into 20x20 before centring it in 28x28


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
    points = (points - (low + high) / 2) * ((BOX - 3) / max((high - low).max(), 1e-6)) + IMAGE_SIZE / 2
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
    dy = int(round(IMAGE_SIZE / 2 - 0.5 - (rows * image).sum() / total))
    dx = int(round(IMAGE_SIZE / 2 - 0.5 - (cols * image).sum() / total))
    # but never push a stroke off the frame: keep 2 pixels clear on every side
    ink_rows, ink_cols = np.nonzero(image > 0.05)
    dy = int(np.clip(dy, 2 - ink_rows.min(), IMAGE_SIZE - 3 - ink_rows.max()))
    dx = int(np.clip(dx, 2 - ink_cols.min(), IMAGE_SIZE - 3 - ink_cols.max()))
    shifted = np.zeros_like(image)  # shift without wrapping ink round to the other side
    rows_to = slice(max(dy, 0), IMAGE_SIZE + min(dy, 0))
    rows_from = slice(max(-dy, 0), IMAGE_SIZE + min(-dy, 0))
    cols_to = slice(max(dx, 0), IMAGE_SIZE + min(dx, 0))
    cols_from = slice(max(-dx, 0), IMAGE_SIZE + min(-dx, 0))
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
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    pixel_centres = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    images = np.empty((count, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for start in range(0, count, chunk):
        batch_labels = labels[start:start + chunk]
        # unused segment slots are parked far away so they never draw
        segments = np.full((len(batch_labels), most, 2, 2), -1e3)
        for i, digit in enumerate(batch_labels):
            own = _sample_segments(glyph_segments[int(digit)], rng)
            segments[i, :len(own)] = own
        widths = rng.uniform(0.6, 1.7, len(batch_labels))
        ink = _render(segments, widths, pixel_centres).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        ink *= rng.uniform(0.75, 1.0, (len(batch_labels), 1, 1))
        ink += rng.normal(0, 0.04, ink.shape) * (rng.random(ink.shape) < 0.15)  # sparse sensor noise
        for i in range(len(batch_labels)):
            images[start + i] = np.clip(_centre_by_mass(ink[i]) * 255, 0, 255).round()
        if bar is not None:
            bar.update(len(batch_labels))
    return images, labels
