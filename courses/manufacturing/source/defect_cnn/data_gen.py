"""Grayscale images of machined metal surfaces with and without defects.

Generating process (``DATA_VERSION = "1"``)
-------------------------------------------
Every image is ``image_size x image_size`` pixels (32 by default), values in
``[0, 1]``, and shows a brushed metal surface:

* **Background.** A base grey level ``Uniform(0.35, 0.65)``; a linear lighting
  gradient in a random direction with amplitude ``Uniform(0, 0.15)``; a smooth
  low-frequency texture (a 4x4 grid of ``N(0, 0.04)`` values, bilinearly
  upsampled); brushing streaks (a random horizontal or vertical
  row/column pattern of amplitude ``Uniform(0.01, 0.04)``); pixel noise
  ``N(0, sigma)`` with ``sigma ~ Uniform(0.02, 0.05)``.
* **Distractors on every class.** With probability 0.5 an image carries one to
  three dust specks: single pixels of contrast ``+-Uniform(0.05, 0.12)``. They
  are not defects.
* **Classes.** ``0 = ok`` (70 %), ``1 = scratch`` (15 %): a thin straight line
  of random angle, length ``Uniform(0.3, 0.8) * image_size``, width about one
  pixel (anti-aliased), contrast ``+-Uniform(0.12, 0.3)`` (darker or brighter);
  ``2 = spot`` (15 %): one or two round Gaussian blobs of radius
  ``Uniform(1.2, 3.0)`` pixels and contrast ``+-Uniform(0.15, 0.35)``.
* Values are clipped to ``[0, 1]`` and stored as ``float32``.

Global statistics (mean, standard deviation) hardly differ between classes:
the defect is local, which is what a convolutional network exploits.

Sizes: ``"small"`` is 3 000 images, ``"large"`` 20 000. Deterministic:
``numpy.random.default_rng(seed)`` only.
"""

from __future__ import annotations

import numpy as np

DATA_VERSION = "1"

CLASSES: list[str] = ["ok", "scratch", "spot"]
"""Class names; the label of an image is the index into this list."""

_SIZES: dict[str, int] = {"small": 3000, "large": 20000}
_CLASS_P = [0.70, 0.15, 0.15]


def _check(size: str, image_size: int) -> int:
    if size not in _SIZES:
        raise ValueError(f"size={size!r} is not known; use one of {sorted(_SIZES)}")
    if not 16 <= int(image_size) <= 128:
        raise ValueError(f"image_size={image_size} is outside 16..128; use e.g. 32")
    return _SIZES[size]


def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a small square grid to ``size x size``."""
    k = grid.shape[0]
    pos = np.linspace(0.0, k - 1.0, size)
    i0 = np.clip(np.floor(pos).astype(int), 0, k - 2)
    frac = pos - i0
    rows = grid[i0] * (1 - frac)[:, None] + grid[i0 + 1] * frac[:, None]
    return rows[:, i0] * (1 - frac)[None, :] + rows[:, i0 + 1] * frac[None, :]


def _background(rng: np.random.Generator, size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    base = rng.uniform(0.35, 0.65)
    angle = rng.uniform(0.0, 2 * np.pi)
    gradient = rng.uniform(0.0, 0.15) * ((np.cos(angle) * xx + np.sin(angle) * yy) / size - 0.5)
    texture = _upsample(rng.normal(0.0, 0.04, size=(4, 4)), size)
    streaks = rng.normal(0.0, 1.0, size=size) * rng.uniform(0.01, 0.04)
    streaks = streaks[:, None] if rng.uniform() < 0.5 else streaks[None, :]
    noise = rng.normal(0.0, rng.uniform(0.02, 0.05), size=(size, size))
    return base + gradient + texture + streaks + noise


def _scratch(rng: np.random.Generator, size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Anti-aliased straight line: intensity falls off with the distance to a segment."""
    length = rng.uniform(0.3, 0.8) * size
    angle = rng.uniform(0.0, np.pi)
    cy, cx = rng.uniform(0.25 * size, 0.75 * size, size=2)
    dy, dx = np.sin(angle), np.cos(angle)
    t = np.clip((yy - cy) * dy + (xx - cx) * dx, -length / 2, length / 2)
    dist = np.hypot(yy - (cy + t * dy), xx - (cx + t * dx))
    contrast = rng.uniform(0.12, 0.3) * rng.choice([-1.0, 1.0])
    return contrast * np.clip(1.2 - dist, 0.0, 1.0)


def _spots(rng: np.random.Generator, size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    out = np.zeros((size, size))
    for _ in range(int(rng.integers(1, 3))):
        cy, cx = rng.uniform(3, size - 3, size=2)
        radius = rng.uniform(1.2, 3.0)
        contrast = rng.uniform(0.15, 0.35) * rng.choice([-1.0, 1.0])
        out += contrast * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
    return out


def _specks(rng: np.random.Generator, size: int) -> np.ndarray:
    out = np.zeros((size, size))
    if rng.uniform() < 0.5:
        for _ in range(int(rng.integers(1, 4))):
            y, x = rng.integers(0, size, size=2)
            out[y, x] += rng.uniform(0.05, 0.12) * rng.choice([-1.0, 1.0])
    return out


def make_surface_images(
    seed: int = 0, size: str = "small", image_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of machined surfaces.

    Returns ``(X, y)``: ``X`` is ``float32`` of shape ``(n, image_size,
    image_size)`` with values in ``[0, 1]``; ``y`` is ``int64`` of shape
    ``(n,)`` with labels indexing :data:`CLASSES` (0 ok, 1 scratch, 2 spot).
    Raises ``ValueError`` for an unknown ``size`` or an ``image_size``
    outside 16..128.
    """
    n = _check(size, image_size)
    rng = np.random.default_rng([int(seed), 21])
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(float)
    labels = rng.choice(3, size=n, p=_CLASS_P).astype(np.int64)
    images = np.empty((n, image_size, image_size), dtype=np.float32)
    for i, label in enumerate(labels):
        img = _background(rng, image_size, yy, xx) + _specks(rng, image_size)
        if label == 1:
            img += _scratch(rng, image_size, yy, xx)
        elif label == 2:
            img += _spots(rng, image_size, yy, xx)
        images[i] = np.clip(img, 0.0, 1.0)
    return images, labels
