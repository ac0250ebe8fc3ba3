"""Figures (matplotlib, Agg backend): maximum-intensity projections with outlined lesions, curves.

Rendering only: functions take images/arrays and return a matplotlib Figure or write a PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from theranostix.core.image import Image  # noqa: E402
from theranostix.io.atomic import atomic_path  # noqa: E402


def coronal_mip(image: Image) -> tuple[np.ndarray, tuple[float, float]]:
    """Coronal maximum-intensity projection (max over the anterior-posterior axis j).

    Returns the (z, x) projection oriented for display (head up, patient right on the viewer's
    left, as radiologists show it) and the (row, column) pixel size in mm.
    """
    mip = image.array.max(axis=1)  # (z, x)
    mip = mip[::-1, :]  # head at the top
    sx, _, sz = image.spacing
    return mip, (sz, sx)


def mip_figure(suv: Image, lesion_labels: Image | None = None, *, title: str = "",
               vmax: float | None = None, lesion_names: dict[int, str] | None = None) -> plt.Figure:
    """Coronal MIP of an SUV image, inverted grey scale, with every lesion outlined and numbered.

    Parameters
    ----------
    suv
        SUV image.
    lesion_labels
        Integer lesion map on the same grid (0 = background); each lesion is outlined in colour and
        labelled with its number at its projected centroid.
    vmax
        Upper display limit (SUV); default: 10 or the 99.5th percentile of the MIP if lower.
    """
    mip, (dz, dx) = coronal_mip(suv)
    if vmax is None:
        vmax = float(min(10.0, max(np.percentile(mip, 99.5), 1.0)))
    h, w = mip.shape
    fig, ax = plt.subplots(figsize=(4.2, 4.2 * (h * dz) / max(w * dx, 1.0) * 0.9 + 0.6), dpi=110)
    ax.imshow(mip, cmap="gray_r", vmin=0, vmax=vmax, aspect=dz / dx, interpolation="nearest")
    if lesion_labels is not None and np.any(lesion_labels.array):
        lab = lesion_labels.array
        lmip = np.zeros(mip.shape, dtype=np.int32)
        for lid in np.unique(lab[lab > 0]):
            proj = (lab == lid).any(axis=1)[::-1, :]
            lmip[proj & (lmip == 0)] = int(lid)
            ax.contour(proj.astype(float), levels=[0.5], colors=["#d62728"], linewidths=0.8)
            cz, cx = ndimage.center_of_mass(proj)
            name = (lesion_names or {}).get(int(lid), str(int(lid)))
            ax.text(cx + 4, cz, name, color="#d62728", fontsize=6, va="center")
    ax.set_axis_off()
    ax.set_title(title or f"coronal MIP ({suv.units}, 0–{vmax:.0f})", fontsize=8)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Save a figure as PNG atomically and close it."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def tac_figure(regions: list, *, title: str = "time-activity curves") -> plt.Figure:
    """Measured activities and fitted curves of dosimetry regions (log activity vs time).

    ``regions`` are :class:`~theranostix.dosimetry.pipeline.RegionDose` objects (or dicts with
    ``region``, ``times_h``, ``activities_mbq``, ``fit_terms``, ``method``).
    """
    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=110)
    get = (lambda r, k: r[k]) if regions and isinstance(regions[0], dict) else (lambda r, k: getattr(r, k))
    tmax = max((max(get(r, "times_h")) for r in regions), default=1.0) * 1.2
    tt = np.linspace(0.0, tmax, 300)
    for n, r in enumerate(regions):
        colour = f"C{n % 10}"
        ax.plot(get(r, "times_h"), get(r, "activities_mbq"), "o", color=colour, ms=4)
        terms = get(r, "fit_terms")
        if terms:
            ax.plot(tt, sum(a * np.exp(-lam * tt) for a, lam in terms), "-", color=colour, lw=1,
                    label=f"{get(r, 'region')} ({get(r, 'method')})")
        else:
            ax.plot([], [], "o", color=colour, label=f"{get(r, 'region')} ({get(r, 'method')})")
    ax.set_yscale("log")
    ax.set_xlabel("time after administration (h)")
    ax.set_ylabel("activity (MBq)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def dvh_figure(dose_gy: np.ndarray, masks: dict[str, np.ndarray], *, title: str = "cumulative DVH") -> plt.Figure:
    """Cumulative dose-volume histograms of regions of a dose map (Gy)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=110)
    for n, (name, m) in enumerate(masks.items()):
        d = np.sort(np.asarray(dose_gy)[m])[::-1]
        if d.size == 0:
            continue
        ax.plot(d, np.arange(1, d.size + 1) / d.size * 100.0, color=f"C{n % 10}", lw=1.2, label=name)
    ax.set_xlabel("absorbed dose (Gy)")
    ax.set_ylabel("volume (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
