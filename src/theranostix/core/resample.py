"""Resampling between grids with SimpleITK (geometry-aware; LPS mm)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import SimpleITK as sitk

from theranostix.core.image import Image

Interpolation = Literal["linear", "nearest", "bspline"]

_INTERP = {
    "linear": sitk.sitkLinear,
    "nearest": sitk.sitkNearestNeighbor,
    "bspline": sitk.sitkBSpline,
}


def resample_to(
    image: Image,
    reference: Image,
    interpolation: Interpolation = "linear",
    default_value: float = 0.0,
    transform: sitk.Transform | None = None,
) -> Image:
    """Resample ``image`` onto the grid of ``reference``.

    Parameters
    ----------
    image
        Image to resample; its units and metadata are kept.
    reference
        Image whose grid (shape, spacing, origin, direction) the result takes.
    interpolation
        ``"linear"`` for intensities, ``"nearest"`` for label maps, ``"bspline"`` for smooth data.
    default_value
        Value outside the source field of view (e.g. -1000 for CT in HU, 0 for PET).
    transform
        Optional SimpleITK transform mapping reference points to ``image`` points (as produced by
        registration). Identity when ``None``.

    Returns
    -------
    Image
        The resampled image; dtype float32 for linear/bspline, the source dtype for nearest.
    """
    src = image.to_sitk()
    if interpolation != "nearest" and src.GetPixelID() != sitk.sitkFloat32:
        src = sitk.Cast(src, sitk.sitkFloat32)
    out = sitk.Resample(
        src,
        reference.to_sitk(),
        transform if transform is not None else sitk.Transform(),
        _INTERP[interpolation],
        float(default_value),
    )
    arr = sitk.GetArrayFromImage(out)
    return Image(
        array=arr if interpolation == "nearest" else arr.astype(np.float32, copy=False),
        spacing=reference.spacing,
        origin=reference.origin,
        direction=reference.direction,
        units=image.units,
        frame_of_reference_uid=image.frame_of_reference_uid,
        metadata=dict(image.metadata),
    )


def resample_to_spacing(
    image: Image, spacing_mm: tuple[float, float, float], interpolation: Interpolation = "linear",
    default_value: float = 0.0,
) -> Image:
    """Resample ``image`` to a new voxel size covering the same field of view."""
    size = [
        max(1, int(round(n * s / t))) for n, s, t in zip(image.size_ijk, image.spacing, spacing_mm)
    ]
    # keep the field-of-view edges: shift the origin by half the difference of voxel sizes
    dmat = image.direction_matrix
    shift = dmat @ ((np.asarray(spacing_mm) - np.asarray(image.spacing)) / 2.0)
    ref = Image(
        array=np.zeros(size[::-1], dtype=np.uint8),
        spacing=spacing_mm,
        origin=tuple(np.asarray(image.origin) + shift),
        direction=image.direction,
    )
    return resample_to(image, ref, interpolation=interpolation, default_value=default_value)
