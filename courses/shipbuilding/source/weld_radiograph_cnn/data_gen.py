"""Radiograph-like patches of butt welds with four classes of findings.

Generating process (``DATA_VERSION = "1"``)
-------------------------------------------
A radiographic film of a butt weld is cut into square patches of
``image_size`` pixels (32 by default, values in ``[0, 1]``, brighter = more
material). Each patch shows the weld as a horizontal bright band.

* **Film style (shared by all patches of one film).** Plate level
  ``Uniform(0.25, 0.45)``; weld brightness above plate ``Uniform(0.18, 0.32)``;
  weld half-width ``Uniform(0.16, 0.25) * image_size``; centre row within
  ``+-0.06 * image_size`` of the middle and a small tilt (slope
  ``+-0.05``); film grain ``N(0, sigma)`` with ``sigma ~ Uniform(0.015,
  0.045)``; a low-frequency mottle (4x4 grid of ``N(0, 0.03)`` upsampled);
  and a faint pattern of parallel processing marks of random angle and
  amplitude ``Uniform(0, 0.03)``. Patches of one film therefore look alike.
* **Film defect tendency.** Each film draws its own class probabilities from
  ``Dirichlet(1.5 * p)`` with ``p = (0.5, 0.22, 0.10, 0.18)`` for
  ``(none, porosity, crack, lack_of_penetration)``: some welders or
  procedures produce more of one defect. Together with the shared style this
  makes patches of a film correlated, so a split that puts one film on both
  sides leaks.
* **Weld ripples.** Periodic brightness ripples along the bead (period
  ``Uniform(4, 8)`` px, amplitude 0.02).
* **Findings (dark = missing material).**

  - ``porosity``: 2-6 round pores inside the bead, radius
    ``Uniform(0.7, 1.8)`` px, contrast ``-Uniform(0.10, 0.25)``;
  - ``crack``: a thin jagged line (random walk) of length
    ``Uniform(0.3, 0.7) * image_size``, mostly along the bead (70 %) or
    across it (30 %), width about 0.9 px, contrast ``-Uniform(0.12, 0.25)``;
  - ``lack_of_penetration``: a straight dark line at the bead centre (the
    root) over at least 80 % of the width, contrast ``-Uniform(0.07, 0.18)``;
  - ``none``: no finding.

Labels are the indices into :data:`CLASSES`. Overall about 50 % none, 22 %
porosity, 10 % crack, 18 % lack of penetration, varying by film.

Sizes: ``"small"`` is 60 films x 50 patches; ``"large"`` 300 films x 50
patches. Deterministic: ``numpy.random.default_rng(seed)`` only.
"""

from __future__ import annotations

import numpy as np

DATA_VERSION = "1"

CLASSES: list[str] = ["none", "porosity", "crack", "lack_of_penetration"]
"""Class names; a label indexes this list. ``crack`` is the safety-critical class."""

_SIZES: dict[str, int] = {"small": 60, "large": 300}
_PATCHES_PER_FILM = 50
_CLASS_P = np.array([0.50, 0.22, 0.10, 0.18])


def _check(size: str, image_size: int) -> int:
    if size not in _SIZES:
        raise ValueError(f"size={size!r} is not known; use one of {sorted(_SIZES)}")
    if not 24 <= int(image_size) <= 128:
        raise ValueError(f"image_size={image_size} is outside 24..128; use e.g. 32")
    return _SIZES[size]


def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a small square grid to ``size x size``."""
    k = grid.shape[0]
    pos = np.linspace(0.0, k - 1.0, size)
    i0 = np.clip(np.floor(pos).astype(int), 0, k - 2)
    frac = pos - i0
    rows = grid[i0] * (1 - frac)[:, None] + grid[i0 + 1] * frac[:, None]
    return rows[:, i0] * (1 - frac)[None, :] + rows[:, i0 + 1] * frac[None, :]


def _film_style(rng: np.random.Generator, size: int) -> dict[str, float | np.ndarray]:
    return {
        "plate": rng.uniform(0.25, 0.45),
        "weld": rng.uniform(0.18, 0.32),
        "half_width": rng.uniform(0.16, 0.25) * size,
        "centre": size / 2 + rng.uniform(-0.06, 0.06) * size,
        "slope": rng.uniform(-0.05, 0.05),
        "grain": rng.uniform(0.015, 0.045),
        "mark_angle": rng.uniform(0.0, np.pi),
        "mark_amp": rng.uniform(0.0, 0.03),
        "mark_period": rng.uniform(3.0, 9.0),
        "ripple_period": rng.uniform(4.0, 8.0),
        "class_p": rng.dirichlet(1.5 * _CLASS_P),
    }


def _line_mask(yy: np.ndarray, xx: np.ndarray, pts: np.ndarray, width: float) -> np.ndarray:
    """Soft mask (0..1) of a polyline through ``pts`` (rows of (y, x)) with the given width."""
    dist = np.full(yy.shape, np.inf)
    for (y0, x0), (y1, x1) in zip(pts[:-1], pts[1:], strict=True):
        dy, dx = y1 - y0, x1 - x0
        seg2 = dy * dy + dx * dx + 1e-12
        t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / seg2, 0.0, 1.0)
        dist = np.minimum(dist, np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx)))
    return np.clip(width + 0.5 - dist, 0.0, 1.0)


def _patch(
    rng: np.random.Generator, style: dict, label: int, size: int, yy: np.ndarray, xx: np.ndarray
) -> np.ndarray:
    centre = style["centre"] + style["slope"] * (xx - size / 2)
    band = 1.0 / (1.0 + np.exp((np.abs(yy - centre) - style["half_width"]) / 1.2))
    ripple = 0.02 * np.sin(2 * np.pi * xx / style["ripple_period"] + rng.uniform(0, 2 * np.pi))
    a = style["mark_angle"]
    marks = style["mark_amp"] * np.sin(
        2 * np.pi * (np.cos(a) * xx + np.sin(a) * yy) / style["mark_period"]
    )
    img = (
        style["plate"]
        + band * (style["weld"] + ripple)
        + marks
        + _upsample(rng.normal(0.0, 0.03, size=(4, 4)), size)
        + rng.normal(0.0, style["grain"], size=(size, size))
    )
    hw = style["half_width"]
    if label == 1:  # porosity
        for _ in range(int(rng.integers(2, 7))):
            cx = rng.uniform(2, size - 2)
            cy = style["centre"] + style["slope"] * (cx - size / 2) + rng.uniform(-0.7, 0.7) * hw
            r = rng.uniform(0.7, 1.8)
            img -= rng.uniform(0.10, 0.25) * np.exp(
                -((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)
            )
    elif label == 2:  # crack: jagged random walk
        length = rng.uniform(0.3, 0.7) * size
        heading = rng.normal(0.0, 0.25) + (np.pi / 2 if rng.uniform() < 0.3 else 0.0)
        cx = rng.uniform(0.3, 0.7) * size
        cy = style["centre"] + style["slope"] * (cx - size / 2) + rng.uniform(-0.5, 0.5) * hw
        n_steps = 8
        steps = heading + np.cumsum(rng.normal(0.0, 0.35, size=n_steps))
        seg = length / n_steps
        pts = np.column_stack(
            [
                cy + np.concatenate([[0.0], np.cumsum(seg * np.sin(steps))]),
                cx + np.concatenate([[0.0], np.cumsum(seg * np.cos(steps))]),
            ]
        )
        pts -= (pts[-1] - pts[0]) / 2  # centre the crack on its start point
        img -= rng.uniform(0.12, 0.25) * _line_mask(yy, xx, pts, 0.45)
    elif label == 3:  # lack of penetration: straight root line
        x0 = rng.uniform(0.0, 0.1) * size
        x1 = size - rng.uniform(0.0, 0.1) * size
        root = style["centre"] + rng.uniform(-0.15, 0.15) * hw
        pts = np.array(
            [
                [root + style["slope"] * (x0 - size / 2), x0],
                [root + style["slope"] * (x1 - size / 2), x1],
            ]
        )
        img -= rng.uniform(0.07, 0.18) * _line_mask(yy, xx, pts, rng.uniform(0.4, 0.8))
    return np.clip(img, 0.0, 1.0)


def make_weld_patches(
    seed: int = 0, size: str = "small", image_size: int = 32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radiograph patches, their labels and the film each was cut from.

    Returns ``(X, y, film)``: ``X`` is ``float32`` of shape ``(n, image_size,
    image_size)`` in ``[0, 1]``; ``y`` is ``int64`` indexing :data:`CLASSES`;
    ``film`` is ``int64``, the film (group) of each patch. Patches of a film
    are contiguous. Raises ``ValueError`` for an unknown ``size`` or an
    ``image_size`` outside 24..128.
    """
    n_films = _check(size, image_size)
    rng = np.random.default_rng([int(seed), 41])
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(float)
    n = n_films * _PATCHES_PER_FILM
    X = np.empty((n, image_size, image_size), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    film = np.repeat(np.arange(n_films, dtype=np.int64), _PATCHES_PER_FILM)
    i = 0
    for _ in range(n_films):
        style = _film_style(rng, image_size)
        for label in rng.choice(4, size=_PATCHES_PER_FILM, p=style["class_p"]):
            X[i] = _patch(rng, style, int(label), image_size, yy, xx)
            y[i] = label
            i += 1
    return X, y, film
