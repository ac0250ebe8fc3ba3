"""NIfTI read/write with a JSON sidecar that keeps quantitation metadata.

NIfTI stores RAS world coordinates; theranostix images are LPS. The conversion flips the sign of
the first two world axes (and nothing else), so geometry round-trips exactly. The sidecar
(``<name>.json`` next to ``<name>.nii.gz``) keeps what NIfTI cannot: units, administration,
reference time, patient weight/height/sex, provenance — so SUV can be re-derived later
(see calculate-suv#23 in ``shared/reference/pet/SUV.md``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def sidecar_path(path: str | Path) -> Path:
    """``scan.nii.gz`` -> ``scan.json``; ``scan.nii`` -> ``scan.json``."""
    p = Path(path)
    name = p.name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return p.with_name(name[: -len(ext)] + ".json")
    return p.with_suffix(".json")


def _affine_from_image(image: Image) -> np.ndarray:
    return _LPS_TO_RAS @ image.affine_lps


def image_to_nifti(image: Image) -> nib.Nifti1Image:
    """Convert an Image to a nibabel NIfTI-1 image (array transposed to (i, j, k))."""
    data = np.asarray(image.array).transpose(2, 1, 0)
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    nii = nib.Nifti1Image(data, _affine_from_image(image))
    nii.header.set_xyzt_units(xyz="mm")
    nii.set_qform(nii.affine, code=1)
    nii.set_sform(nii.affine, code=1)
    return nii


def write_nifti(image: Image, path: str | Path, sidecar: dict[str, Any] | None = None) -> Path:
    """Write ``image`` as NIfTI (``.nii`` or ``.nii.gz``) plus a JSON sidecar, atomically.

    The sidecar always holds ``units``, ``frame_of_reference_uid`` and ``metadata``; ``sidecar``
    adds more keys (administration, reference time, patient, provenance...).
    """
    from theranostix.io.atomic import atomic_path, to_jsonable

    path = Path(path)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise InvalidInputError("NIfTI output must end with .nii or .nii.gz", where=path)
    meta = {"units": image.units, "frame_of_reference_uid": image.frame_of_reference_uid,
            "metadata": image.metadata, **(sidecar or {})}
    with atomic_path(path) as tmp_img, atomic_path(sidecar_path(path), suffix=".json") as tmp_js:
        nib.save(image_to_nifti(image), str(tmp_img) if str(tmp_img).endswith((".nii", ".nii.gz"))
                 else str(tmp_img))
        tmp_js.write_text(json.dumps(to_jsonable(meta), indent=2) + "\n")
    return path


def read_nifti(path: str | Path) -> tuple[Image, dict[str, Any]]:
    """Read a NIfTI file (and its JSON sidecar if present) into an Image.

    Returns
    -------
    (Image, sidecar dict) — the sidecar is ``{}`` when absent; units then default to ``"1"``.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError("NIfTI file not found", where=path)
    try:
        nii = nib.load(str(path))
        data = np.asanyarray(nii.dataobj)
    except Exception as exc:
        raise InvalidInputError(f"not a readable NIfTI file ({exc})", where=path) from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InvalidInputError(f"expected a 3-D NIfTI volume, got shape {data.shape}", where=path)
    aff = _LPS_TO_RAS @ nii.affine  # RAS -> LPS (the flip is its own inverse)
    m = aff[:3, :3]
    spacing = np.linalg.norm(m, axis=0)
    if np.any(spacing <= 0):
        raise InvalidInputError("NIfTI affine has a zero-length axis", where=path)
    direction = m / spacing[None, :]
    meta: dict[str, Any] = {}
    sc = sidecar_path(path)
    if sc.is_file():
        try:
            meta = json.loads(sc.read_text())
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"sidecar is not valid JSON ({exc})", where=sc) from exc
    image = Image(array=np.ascontiguousarray(data.transpose(2, 1, 0)), spacing=tuple(spacing),
                  origin=tuple(aff[:3, 3]), direction=tuple(direction.ravel()),
                  units=str(meta.get("units", "1")), frame_of_reference_uid=meta.get("frame_of_reference_uid"),
                  metadata=dict(meta.get("metadata", {})))
    return image, meta
