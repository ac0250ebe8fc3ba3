"""Reading organ / structure masks made elsewhere (e.g. TotalSegmentator, a planning system).

Every reader returns a list of **label maps**: integer :class:`Image` objects (units ``"label"``)
whose ``metadata["label_names"]`` maps the label value (as a string) to a structure name, and
whose ``metadata["source"]`` names the file. Overlapping structures (DICOM SEG segments, RTSTRUCT
ROIs) become separate label maps, so nothing is lost. Putting them on the PET grid and mapping
names is done by :mod:`theranostix.pet.organ_masks`.

Supported inputs
----------------
* NIfTI label map (``.nii``/``.nii.gz``) + names: a ``{"1": "liver", ...}`` (or
  ``{"liver": 1}``) dict, a JSON file with that content, or the JSON sidecar next to the file
  (key ``label_names`` or a plain mapping).
* A folder of binary NIfTI masks, one per structure, named after it (TotalSegmentator's default
  output: ``liver.nii.gz``, ``kidney_left.nii.gz`` ...).
* DICOM SEG (binary or fractional; fractional is thresholded at 0.5) via highdicom.
* DICOM RTSTRUCT (closed planar contours) via pydicom, rasterised onto the grid of the referenced
  CT (which must be given): a voxel is inside when its centre is inside the polygon of its slice;
  nested contours of one ROI are combined by XOR (inner contours are holes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from theranostix.core import units as U
from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image

NamesArg = Mapping[int | str, str | int] | str | Path | None


def _nifti_stem(path: Path) -> str:
    name = path.name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return path.stem


def _normalise_names(raw: Mapping[Any, Any], where: str | Path) -> dict[str, str]:
    """{label value (str): name} from either {value: name} or {name: value}."""
    out: dict[str, str] = {}
    for key, val in raw.items():
        k, v = str(key).strip(), str(val).strip()
        if k.lstrip("-").isdigit() and not v.lstrip("-").isdigit():
            out[str(int(k))] = v
        elif v.lstrip("-").isdigit() and not k.lstrip("-").isdigit():
            out[str(int(v))] = k
        else:
            raise InvalidInputError(
                f"label-name entry {key!r}: {val!r} is not 'number: name'", where=where,
                fix='write the names as {"1": "liver", "2": "spleen", ...}')
    if "0" in out:
        del out["0"]  # background
    return out


def _load_names(names: NamesArg, nifti: Path) -> dict[str, str]:
    if isinstance(names, Mapping):
        return _normalise_names(names, "label names")
    if names is not None:
        p = Path(names)
        if not p.is_file():
            raise InvalidInputError("label-names JSON not found", where=p)
        try:
            raw = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"label names are not valid JSON ({exc})", where=p) from exc
        if isinstance(raw, dict) and "label_names" in raw:
            raw = raw["label_names"]
        if not isinstance(raw, dict):
            raise InvalidInputError("label names must be a JSON object", where=p)
        return _normalise_names(raw, p)
    from theranostix.io.nifti import sidecar_path

    sc = sidecar_path(nifti)
    if sc.is_file():
        try:
            raw = json.loads(sc.read_text())
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"sidecar is not valid JSON ({exc})", where=sc) from exc
        if isinstance(raw, dict):
            for key in ("label_names", "labels"):  # "labels": the digital twins' sidecars
                if isinstance(raw.get(key), dict):
                    return _normalise_names(raw[key], sc)
            md = raw.get("metadata")
            if isinstance(md, dict) and isinstance(md.get("label_names"), dict):
                return _normalise_names(md["label_names"], sc)
    raise InvalidInputError(
        "the label map has no names: which number is which organ is unknown", where=nifti,
        fix='pass a names JSON ({"1": "liver", ...}) or put "label_names" in the sidecar '
        f"{sc.name}; for TotalSegmentator, use its folder of per-organ files instead of --ml")


def read_label_nifti(path: str | Path, names: NamesArg = None) -> Image:
    """Read a NIfTI label map and its label names.

    Parameters
    ----------
    path
        ``.nii`` or ``.nii.gz`` holding integer labels (0 = background).
    names
        ``{value: name}`` / ``{name: value}``, a JSON file with that, or ``None`` to use the
        sidecar ``<name>.json``.

    Raises
    ------
    InvalidInputError
        Unreadable file, non-integer values, or unknown names.
    """
    from theranostix.io.nifti import read_nifti

    path = Path(path)
    image, _ = read_nifti(path)
    arr = image.array
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise InvalidInputError(
                "the label map holds non-integer values (a probability map or an image?)",
                where=path, fix="threshold it into integer labels first")
    arr = arr.astype(np.int32, copy=False)
    label_names = _load_names(names, path)
    present = {str(int(v)) for v in np.unique(arr) if v != 0}
    missing = sorted(present - set(label_names), key=int)
    meta = {**image.metadata, "label_names": label_names, "source": str(path)}
    if missing:
        meta["unnamed_labels"] = missing
    return Image(arr, image.spacing, image.origin, image.direction, units=U.LABEL,
                 frame_of_reference_uid=image.frame_of_reference_uid, metadata=meta)


def read_mask_folder(folder: str | Path) -> list[Image]:
    """Read a folder of binary NIfTI masks named after their structure (TotalSegmentator style).

    Empty masks are kept (the organ was not found); a non-binary file is refused.
    """
    from theranostix.io.nifti import read_nifti

    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".nii", ".nii.gz")))
    if not files:
        raise InvalidInputError("no NIfTI masks (.nii/.nii.gz) in the folder", where=folder)
    out = []
    for f in files:
        img, _ = read_nifti(f)
        vals = np.unique(img.array)
        if not np.all(np.isin(vals, (0, 1))):
            raise InvalidInputError(
                f"mask is not binary (values {vals[:5].tolist()}...)", where=f,
                fix="a folder must hold one 0/1 mask per structure; read a label map with "
                "read_label_nifti and its names instead")
        out.append(Image(img.array.astype(np.uint8), img.spacing, img.origin, img.direction,
                         units=U.LABEL, frame_of_reference_uid=img.frame_of_reference_uid,
                         metadata={"label_names": {"1": _nifti_stem(f)}, "source": str(f)}))
    return out


def read_dicom_seg(path: str | Path) -> list[Image]:
    """Read a DICOM Segmentation (one label map per segment) with highdicom.

    The geometry comes from the SEG's plane positions (its own frame of reference UID is kept),
    so no source CT is needed.
    """
    import highdicom as hd

    path = Path(path)
    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:
        raise InvalidInputError(f"not a readable DICOM SEG ({exc})", where=path) from exc
    for_uid = str(getattr(seg, "FrameOfReferenceUID", "") or "") or None
    out = []
    for n in seg.segment_numbers:
        label = str(seg.get_segment_description(n).segment_label)
        try:
            vol = seg.get_volume(segment_numbers=[n], combine_segments=True, relabel=False)
        except Exception as exc:
            raise InvalidInputError(
                f"segment {n} ({label}) does not form a regular 3-D volume ({exc})",
                where=f"{path} segment {n}",
                fix="export the SEG on the regular grid of its source CT") from exc
        arr = np.asarray(vol.array)
        if arr.ndim == 4:
            arr = arr[..., 0]
        mask = (arr >= (0.5 if arr.dtype.kind == "f" else 1)).astype(np.uint8)
        aff = np.asarray(vol.affine, dtype=float)  # (slice, row, column) -> LPS mm
        cols = aff[:3, :3]
        spacing_kji = np.linalg.norm(cols, axis=0)
        # our Image axes are (i, j, k) = (column, row, slice)
        direction = np.stack([cols[:, 2] / spacing_kji[2], cols[:, 1] / spacing_kji[1],
                              cols[:, 0] / spacing_kji[0]], axis=1)
        out.append(Image(mask, (spacing_kji[2], spacing_kji[1], spacing_kji[0]),
                         tuple(aff[:3, 3]), tuple(direction.ravel()), units=U.LABEL,
                         frame_of_reference_uid=for_uid,
                         metadata={"label_names": {"1": label}, "source": f"{path}#segment{n}"}))
    if not out:
        raise InvalidInputError("the DICOM SEG has no segments", where=path)
    return out


def read_rtstruct(path: str | Path, reference: Image) -> list[Image]:
    """Rasterise every ROI of an RTSTRUCT onto the grid of ``reference`` (its CT).

    Raises
    ------
    InvalidInputError
        Not an RTSTRUCT, a frame of reference different from the reference image's, contours not
        lying on the reference slices, or an ROI entirely outside the reference grid.
    """
    import pydicom
    from skimage.draw import polygon

    path = Path(path)
    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:
        raise InvalidInputError(f"not a readable DICOM file ({exc})", where=path) from exc
    if str(ds.get("Modality", "")) != "RTSTRUCT":
        raise InvalidInputError(f"Modality is {ds.get('Modality')!r}, not RTSTRUCT",
                                where=f"{path} Modality (0008,0060)")
    ref_for = None
    if "ReferencedFrameOfReferenceSequence" in ds and len(ds.ReferencedFrameOfReferenceSequence):
        ref_for = str(ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID)
    if ref_for and reference.frame_of_reference_uid and ref_for != reference.frame_of_reference_uid:
        raise InvalidInputError(
            f"the RTSTRUCT is on frame of reference {ref_for}, the reference image on "
            f"{reference.frame_of_reference_uid}",
            where=f"{path} ReferencedFrameOfReferenceSequence (3006,0010)",
            fix="give the CT series the structures were drawn on")
    names = {int(r.ROINumber): str(r.ROIName) for r in ds.get("StructureSetROISequence", [])}
    nz, ny, nx = reference.shape
    out = []
    for rc in ds.get("ROIContourSequence", []):
        num = int(rc.ReferencedROINumber)
        name = names.get(num, f"roi_{num}")
        mask = np.zeros(reference.shape, dtype=bool)
        n_in = n_all = 0
        for c in rc.get("ContourSequence", []):
            if str(c.get("ContourGeometricType", "CLOSED_PLANAR")) not in ("CLOSED_PLANAR",):
                continue
            pts = np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
            n_all += 1
            ijk = reference.world_to_index(pts)
            k = float(np.mean(ijk[:, 2]))
            kr = int(round(k))
            if np.ptp(ijk[:, 2]) > 0.1 or abs(k - kr) > 0.25:
                raise InvalidInputError(
                    f"ROI '{name}': a contour does not lie on a slice of the reference image "
                    f"(slice index {k:.2f})", where=f"{path} ContourData (3006,0050)",
                    fix="give the CT series the structures were drawn on")
            if not 0 <= kr < nz:
                continue
            rr, cc = polygon(ijk[:, 1], ijk[:, 0], shape=(ny, nx))
            if rr.size == 0:
                continue
            n_in += 1
            sl = np.zeros((ny, nx), dtype=bool)
            sl[rr, cc] = True
            mask[kr] ^= sl
        if n_all and not n_in:
            raise InvalidInputError(f"ROI '{name}' lies entirely outside the reference image",
                                    where=path, fix="give the CT series the structures were drawn on")
        out.append(reference.with_array(mask.astype(np.uint8), units=U.LABEL,
                                        label_names={"1": name}, source=f"{path}#roi{num}"))
    if not out:
        raise InvalidInputError("the RTSTRUCT has no ROI contours", where=path)
    return out


def read_organ_masks(path: str | Path, names: NamesArg = None,
                     reference: Image | None = None) -> list[Image]:
    """Read masks from any supported source (dispatch on what ``path`` is).

    Parameters
    ----------
    path
        NIfTI label map, folder of NIfTI masks, DICOM SEG or RTSTRUCT file, or a folder holding
        exactly one SEG or RTSTRUCT.
    names
        Label names for a NIfTI label map (see :func:`read_label_nifti`).
    reference
        The CT image an RTSTRUCT was drawn on (required for RTSTRUCT).
    """
    import pydicom

    path = Path(path)
    if not path.exists():
        raise InvalidInputError("organ-mask path not found", where=path)
    if path.is_file() and path.name.endswith((".nii", ".nii.gz")):
        return [read_label_nifti(path, names)]
    if path.is_dir():
        if any(p.name.endswith((".nii", ".nii.gz")) for p in path.iterdir()):
            return read_mask_folder(path)
        cands = []
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            try:
                ds = pydicom.dcmread(str(p), stop_before_pixels=True)
            except Exception:
                continue
            if str(ds.get("Modality", "")) in ("SEG", "RTSTRUCT"):
                cands.append(p)
        if len(cands) != 1:
            raise InvalidInputError(
                f"expected one DICOM SEG or RTSTRUCT in the folder, found {len(cands)}", where=path,
                fix="point at the SEG/RTSTRUCT file itself")
        path = cands[0]
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    except Exception as exc:
        raise InvalidInputError(f"not NIfTI and not readable DICOM ({exc})", where=path) from exc
    modality = str(ds.get("Modality", ""))
    if modality == "SEG":
        return read_dicom_seg(path)
    if modality == "RTSTRUCT":
        if reference is None:
            raise InvalidInputError("an RTSTRUCT needs the CT it was drawn on", where=path,
                                    fix="pass the CT series (--ct) together with the RTSTRUCT")
        return read_rtstruct(path, reference)
    raise InvalidInputError(f"unsupported mask file (Modality {modality!r})", where=path,
                            fix="use a NIfTI label map, a NIfTI folder, DICOM SEG or RTSTRUCT")
