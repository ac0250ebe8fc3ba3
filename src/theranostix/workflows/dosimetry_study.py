"""Dosimetry of a therapy cycle from folders on disk (an edge: reads series, writes outputs).

Each timepoint folder holds one quantitative SPECT (NM) series and, usually, its CT. Region masks
come from a label map (NIfTI with names, DICOM SEG, RTSTRUCT, or a TotalSegmentator-style folder:
:func:`theranostix.io.masks.read_organ_masks`) and lesions from an optional lesion label map.
The analysis itself is :mod:`theranostix.dosimetry.pipeline`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.patient import Administration
from theranostix.core.resample import resample_to
from theranostix.dosimetry.pipeline import DEFAULT_MARGIN_MM, DosimetryResult, align_timepoints, region_dosimetry
from theranostix.io.atomic import write_json_atomic
from theranostix.io.dicom import load_ct, load_spect
from theranostix.io.dicom.files import scan

#: Organ groups reported by default (label names of TotalSegmentator / the twins -> region).
DEFAULT_GROUPS: dict[str, tuple[str, ...]] = {
    "kidneys": ("kidney_left", "kidney_right", "kidney_left_cortex", "kidney_left_medulla",
                "kidney_right_cortex", "kidney_right_medulla"),
    "liver": ("liver",),
    "spleen": ("spleen",),
    "parotid_glands": ("parotid_left", "parotid_right", "parotid_gland_left", "parotid_gland_right"),
    "submandibular_glands": ("submandibular_left", "submandibular_right", "submandibular_gland_left",
                             "submandibular_gland_right"),
    "lacrimal_glands": ("lacrimal_left", "lacrimal_right"),
    "bladder": ("bladder", "urinary_bladder"),
}


def _has_modality(folder: Path, modality: str) -> bool:
    return any(str(items[0][1].get("Modality", "")) == modality for items in scan(folder).series.values())


def load_timepoints(dirs: list[Path], *, calibration_cps_per_mbq: float | None = None,
                    administered_mbq: float | None = None, injection_time: datetime | None = None,
                    nuclide: str = "Lu-177") -> tuple[list[Any], list[Image] | None, Administration]:
    """Read the SPECT (and CT) of every timepoint folder; the administration from headers or options."""
    if not dirs:
        raise InvalidInputError("no timepoint folders given", where="SERIES_DIR")
    admin = None
    if administered_mbq is not None or injection_time is not None:
        if administered_mbq is None or injection_time is None:
            raise InvalidInputError("give both the administered activity and the injection time",
                                    where="--administered-mbq/--injection-time")
        admin = Administration(agent=None, radionuclide=nuclide, activity_mbq=administered_mbq,
                               datetime=injection_time)
    spects, cts = [], []
    for d in dirs:
        v = load_spect(d, calibration_cps_per_mbq=calibration_cps_per_mbq, administration=admin,
                       radionuclide_name=nuclide)
        if v.administration is None or v.hours_after_administration is None:
            raise InvalidInputError("no administration (activity and time) in the SPECT header",
                                    where=f"{d} RadiopharmaceuticalInformationSequence",
                                    fix="pass --administered-mbq and --injection-time.")
        spects.append(v)
        cts.append(load_ct(d) if _has_modality(Path(d), "CT") else None)
    admins = {(round(s.administration.activity_mbq, 3), s.administration.datetime) for s in spects}
    if len(admins) > 1:
        raise InvalidInputError(f"timepoints disagree on the administration: {sorted(admins)}",
                                where="RadiopharmaceuticalInformationSequence",
                                fix="all timepoints must belong to one therapy cycle.")
    order = np.argsort([s.hours_after_administration for s in spects])
    spects = [spects[i] for i in order]
    cts = [cts[i] for i in order]
    return spects, (cts if all(c is not None for c in cts) else None), spects[0].administration


def masks_on_grid(label_images: list[Image], grid: Image, groups: dict[str, tuple[str, ...]] | None = None,
                  prefix: str = "") -> dict[str, np.ndarray]:
    """Group named label images into region masks on ``grid`` (nearest-neighbour resampling)."""
    groups = groups or DEFAULT_GROUPS
    by_name: dict[str, np.ndarray] = {}
    for img in label_images:
        arr = img if img.same_grid(grid) else resample_to(img, grid, interpolation="nearest")
        names = img.metadata.get("label_names") or {}
        for value, name in names.items():
            m = np.asarray(arr.array) == int(value)
            by_name[str(name)] = by_name[str(name)] | m if str(name) in by_name else m
    out = {}
    for region, members in groups.items():
        sel = [by_name[m] for m in members if m in by_name]
        if sel:
            m = np.logical_or.reduce(sel)
            if m.any():
                out[prefix + region] = m
    return out


def structure_masks(label_images: list[Image], grid: Image) -> dict[str, np.ndarray]:
    """Every named structure of the label maps as its own mask on ``grid`` (the GTM partition)."""
    out: dict[str, np.ndarray] = {}
    for img in label_images:
        arr = (img if img.same_grid(grid) else resample_to(img, grid, interpolation="nearest")).array
        for value, name in (img.metadata.get("label_names") or {}).items():
            m = np.asarray(arr) == int(value)
            if m.any():
                out[str(name)] = out[str(name)] | m if str(name) in out else m
    return out


def lesion_masks(lesion_labels: Image, grid: Image, min_voxels: int = 1) -> dict[str, np.ndarray]:
    """One mask per lesion id (``lesion_<id>``) on ``grid``."""
    lab = lesion_labels if lesion_labels.same_grid(grid) else resample_to(lesion_labels, grid, interpolation="nearest")
    arr = np.asarray(lab.array).astype(np.int64)
    out = {}
    for lid in np.unique(arr[arr > 0]):
        m = arr == lid
        if m.sum() >= min_voxels:
            out[f"lesion_{int(lid)}"] = m
    return out


def run_dosimetry_study(dirs: list[Path], masks_path: Path, out_dir: Path, *, lesions_path: Path | None = None,
                        calibration_cps_per_mbq: float | None = None, administered_mbq: float | None = None,
                        injection_time: datetime | None = None, nuclide: str = "Lu-177",
                        margin_mm: float = DEFAULT_MARGIN_MM, voxel: bool = True,
                        min_lesion_ml: float = 0.0, psf_fwhm_mm: float | None = None,
                        ) -> tuple[DosimetryResult, dict[str, Path]]:
    """Read, align, compute and write a cycle's dosimetry; returns the result and written files."""
    from theranostix.io.dicom.rtdose import write_rtdose
    from theranostix.io.masks import read_organ_masks
    from theranostix.io.nifti import write_nifti
    from theranostix.report.figures import dvh_figure, save_figure, tac_figure

    spects, cts, admin = load_timepoints(dirs, calibration_cps_per_mbq=calibration_cps_per_mbq,
                                         administered_mbq=administered_mbq, injection_time=injection_time,
                                         nuclide=nuclide)
    images, align_prov = align_timepoints([s.image for s in spects], cts)
    grid = images[0]
    organ_imgs = read_organ_masks(masks_path)
    masks = masks_on_grid(organ_imgs, grid)
    partition = structure_masks(organ_imgs, grid) if psf_fwhm_mm else None
    if not masks:
        raise InvalidInputError("no known organ in the masks", where=masks_path,
                                fix=f"label names must include some of {sorted({m for g in DEFAULT_GROUPS.values() for m in g})}")
    lesions: dict[str, np.ndarray] = {}
    if lesions_path is not None:
        from theranostix.io.nifti import read_nifti

        lab, _ = read_nifti(lesions_path)
        lesions = lesion_masks(lab, grid)
        if min_lesion_ml > 0:
            lesions = {k: m for k, m in lesions.items() if m.sum() * grid.voxel_volume_ml >= min_lesion_ml}
    ct_on_grid = resample_to(cts[0], grid, interpolation="linear", default_value=-1000.0) if cts else None
    res, dose = region_dosimetry(images, [s.hours_after_administration for s in spects], {**masks, **lesions},
                                 administered_mbq=admin.activity_mbq, nuclide=nuclide,
                                 lesion_regions=list(lesions), ct=ct_on_grid, margin_mm=margin_mm, voxel=voxel,
                                 psf_fwhm_mm=psf_fwhm_mm, partition=partition)
    res.provenance = res.provenance.merged(align_prov)
    res.provenance.inputs.update({"timepoints": [str(d) for d in dirs], "masks": str(masks_path),
                                  "series_uids": [s.series_uid for s in spects]})
    out_dir = Path(out_dir)
    files = {"json": write_json_atomic(out_dir / "dosimetry.json", res)}
    files["tac_png"] = save_figure(tac_figure(res.regions), out_dir / "tac.png")
    if dose is not None:
        files["dose_nifti"] = write_nifti(dose, out_dir / "dose.nii.gz", sidecar={"provenance": res.provenance})
        files["rtdose"] = write_rtdose(dose, out_dir / "rtdose.dcm", dose_type="PHYSICAL",
                                       referenced_series_uid=spects[0].series_uid)
        files["dvh_png"] = save_figure(dvh_figure(dose.array, {**masks, **lesions}), out_dir / "dvh.png")
    return res, files
