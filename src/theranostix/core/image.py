"""The :class:`Image`: a numpy array that carries its geometry and units.

Axis order (stated once, used everywhere)
-----------------------------------------
``Image.array`` is indexed ``[k, j, i]`` = ``[slice, row, column]`` (z, y, x), exactly like
``SimpleITK.GetArrayFromImage`` and like a stack of DICOM slices. ``spacing``, ``origin`` and the
axes of ``direction`` are given in ``(i, j, k)`` = (x, y, z) order, as in SimpleITK and DICOM.

Coordinates are DICOM patient coordinates (LPS: +x to the patient's left, +y posterior, +z head),
in millimetres. ``origin`` is the centre of voxel ``[0, 0, 0]``. ``direction`` is the 3x3 matrix
(row-major, 9 numbers) whose *columns* are the unit vectors of the i, j and k axes in LPS.
The world position of voxel index (i, j, k) is ``origin + direction @ (spacing * (i, j, k))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import SimpleITK as sitk

from theranostix.core.errors import InvalidInputError

Vec3 = tuple[float, float, float]
IDENTITY: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(eq=False)
class Image:
    """A 3-D image with geometry (LPS, mm) and units.

    Parameters
    ----------
    array
        Voxel values, shape ``(nz, ny, nx)`` (see module docstring for the axis order).
    spacing
        Voxel size along i, j, k in mm.
    origin
        LPS position of the centre of voxel [0, 0, 0] in mm.
    direction
        Row-major 3x3 direction cosines; columns are the i, j, k axes in LPS.
    units
        Unit string of the values, e.g. ``"Bq/mL"``, ``"SUVbw"``, ``"HU"`` (see :mod:`core.units`).
    frame_of_reference_uid
        DICOM FrameOfReferenceUID when known: images on different frames are not comparable.
    metadata
        Free-form extra information (modality, series UID, ...). JSON-serialisable values only.
    """

    array: np.ndarray
    spacing: Vec3
    origin: Vec3 = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = IDENTITY
    units: str = "1"
    frame_of_reference_uid: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        if self.array.ndim != 3:
            raise InvalidInputError(
                f"an Image needs a 3-D array (k, j, i); got shape {self.array.shape}",
                where="Image.array",
            )
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = tuple(float(d) for d in np.asarray(self.direction).ravel())
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise InvalidInputError(
                "spacing and origin need 3 numbers and direction 9", where="Image geometry"
            )
        if any(not np.isfinite(s) or s <= 0 for s in self.spacing):
            raise InvalidInputError(
                f"voxel spacing must be positive and finite, got {self.spacing}",
                where="Image.spacing",
            )

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(nz, ny, nx)``."""
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def size_ijk(self) -> tuple[int, int, int]:
        """Number of voxels along i, j, k (SimpleITK ``GetSize`` order)."""
        nz, ny, nx = self.array.shape
        return (nx, ny, nz)

    @property
    def direction_matrix(self) -> np.ndarray:
        """3x3 direction matrix (columns = i, j, k axes in LPS)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL (= cm^3)."""
        sx, sy, sz = self.spacing
        return sx * sy * sz / 1000.0

    @property
    def affine_lps(self) -> np.ndarray:
        """4x4 affine from (i, j, k, 1) voxel index to LPS mm."""
        a = np.eye(4)
        a[:3, :3] = self.direction_matrix * np.asarray(self.spacing)[None, :]
        a[:3, 3] = self.origin
        return a

    def index_to_world(self, ijk: np.ndarray | Vec3) -> np.ndarray:
        """LPS position (mm) of voxel index/indices ``(i, j, k)`` (shape (..., 3))."""
        ijk = np.asarray(ijk, dtype=float)
        a = self.affine_lps
        return ijk @ a[:3, :3].T + a[:3, 3]

    def world_to_index(self, xyz: np.ndarray | Vec3) -> np.ndarray:
        """Continuous voxel index ``(i, j, k)`` of LPS position(s) in mm (shape (..., 3))."""
        xyz = np.asarray(xyz, dtype=float)
        a = self.affine_lps
        return (xyz - a[:3, 3]) @ np.linalg.inv(a[:3, :3]).T

    def same_grid(self, other: "Image", tol_mm: float = 1e-3) -> bool:
        """True when both images share shape, spacing, origin and direction (within ``tol_mm``)."""
        return (
            self.shape == other.shape
            and np.allclose(self.spacing, other.spacing, atol=tol_mm)
            and np.allclose(self.origin, other.origin, atol=tol_mm)
            and np.allclose(self.direction, other.direction, atol=1e-6)
        )

    def with_array(self, array: np.ndarray, units: str | None = None, **metadata: Any) -> "Image":
        """A new Image on the same grid with another array (and optionally other units)."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise InvalidInputError(
                f"array shape {array.shape} does not match the grid {self.array.shape}",
                where="Image.with_array",
            )
        md = {**self.metadata, **metadata}
        return replace(self, array=array, units=self.units if units is None else units, metadata=md)

    # ------------------------------------------------------------------ SimpleITK
    def to_sitk(self) -> sitk.Image:
        """Convert to a SimpleITK image (lossless: values, spacing, origin, direction)."""
        img = sitk.GetImageFromArray(np.ascontiguousarray(self.array), isVector=False)
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(self.direction)
        return img

    @classmethod
    def from_sitk(
        cls, img: sitk.Image, units: str = "1", frame_of_reference_uid: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> "Image":
        """Build an Image from a 3-D SimpleITK image."""
        if img.GetDimension() != 3:
            raise InvalidInputError(
                f"expected a 3-D image, got {img.GetDimension()}-D", where="SimpleITK image"
            )
        return cls(
            array=sitk.GetArrayFromImage(img),
            spacing=img.GetSpacing(),
            origin=img.GetOrigin(),
            direction=img.GetDirection(),
            units=units,
            frame_of_reference_uid=frame_of_reference_uid,
            metadata=dict(metadata or {}),
        )

    def __repr__(self) -> str:
        return (
            f"Image(shape={self.shape}, spacing={tuple(round(s, 4) for s in self.spacing)}, "
            f"origin={tuple(round(o, 2) for o in self.origin)}, units={self.units!r}, "
            f"dtype={self.array.dtype})"
        )
