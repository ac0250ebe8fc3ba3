"""Make a complete digital twin on disk: PET/CT, optional Lu-177 SPECT/CT series and follow-ups.

:func:`make_twin` chains the body side (anatomy, disease, tracer uptake, therapy kinetics,
follow-up; :mod:`theranostix.twin.truth`) with the scanner side (:mod:`.scanners`) and writes
DICOM series (:mod:`.export`) plus the ground truth (NIfTI label maps and ``truth/truth.json``).

Layout of ``out_dir``::

    baseline/pet  baseline/ct                          diagnostic PET/CT (one study)
    therapy/<hh>h/spect  therapy/<hh>h/ct              Lu-177 SPECT/CT at 4, 24, 48, 96, 168 h
    followup/pet  followup/ct                           the same patient after N cycles
    truth/organs.nii.gz  truth/lesions.nii.gz           label maps on the truth grid
    truth/followup_lesions.nii.gz                      (with follow-up)
    truth/truth.json                                    lesions, organs, kinetics, TIA, scanners

The whole folder is written atomically (built in a temporary sibling, then renamed). An existing
``out_dir`` is replaced only if it is empty or is itself a twin (holds ``truth/truth.json``).
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from theranostix import __version__
from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.io.atomic import atomic_dir, to_jsonable
from theranostix.physics.radionuclides import DECAY_DATA, radionuclide
from theranostix.twin import truth as T
from theranostix.twin.export import (
    VENDORS,
    PatientInfo,
    SeriesContext,
    make_uid,
    write_ct_series,
    write_pet_series,
    write_spect_series,
)
from theranostix.twin.scanners import (
    scanner_grid,
    simulate_ct,
    simulate_pet,
    simulate_spect,
    voxelise,
)

__all__ = ["THERAPY_AGENTS", "SPECT_TIMES_H", "SeriesRecord", "TwinResult", "make_twin",
           "default_activity_mbq"]

#: Therapy agent key -> (radiopharmaceutical name, cycle interval in weeks).
#: Cycle intervals: 6 weeks for [177Lu]Lu-PSMA-617 (VISION), 8 weeks for [177Lu]Lu-DOTATATE
#: (NETTER-1) (SIMULATION.md §6.6).
THERAPY_AGENTS: dict[str, tuple[str, float]] = {
    "lu177-psma617": ("[177Lu]Lu-PSMA-617", 6.0),
    "lu177-dotatate": ("[177Lu]Lu-DOTATATE", 8.0),
}

#: Post-therapy SPECT/CT times (h after injection) (SIMULATION.md §6.6).
SPECT_TIMES_H: tuple[float, ...] = (4.0, 24.0, 48.0, 96.0, 168.0)

#: Administered therapy activity per cycle (MBq) (SIMULATION.md §6.6: 7.4 GBq).
THERAPY_ACTIVITY_MBQ = 7400.0

#: Diagnostic activity per kg: Ga-68 2.0 MBq/kg (middle of 1.8-2.2 MBq/kg of the joint EANM/SNMMI
#: PSMA PET procedure guideline, Fendler et al., Eur J Nucl Med Mol Imaging 2023;50:1466);
#: F-18 3.7 MBq/kg (FDG, order of the EANM guideline, Boellaard et al. 2015).
GA68_ACTIVITY_MBQ_PER_KG = 2.0
F18_ACTIVITY_MBQ_PER_KG = 3.7


class SeriesRecord(BaseModel):
    """One written DICOM series."""

    role: str  # "pet" | "ct" | "spect"
    timepoint: str  # "baseline" | "therapy_004h" | "followup"
    modality: str
    path: Path
    series_uid: str
    study_uid: str
    frame_of_reference_uid: str
    n_files: int
    acquisition_datetime: datetime


class TwinResult(BaseModel):
    """Everything :func:`make_twin` wrote, and a short summary."""

    out_dir: Path
    patient_id: str
    tracer: str
    nuclide: str
    vendor: str
    series: list[SeriesRecord]
    truth_json: Path
    organ_labels: Path
    lesion_labels: Path
    followup_lesion_labels: Path | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    provenance: Provenance = Field(default_factory=Provenance)

    def series_path(self, role: str, timepoint: str = "baseline") -> Path:
        """Folder of the series with this role and timepoint."""
        for s in self.series:
            if s.role == role and s.timepoint == timepoint:
                return s.path
        raise InvalidInputError(f"no {role} series at {timepoint}", where="TwinResult.series")


def default_activity_mbq(nuclide: str, weight_kg: float) -> float:
    """Default diagnostic activity (MBq): 2.0 MBq/kg Ga-68, 3.7 MBq/kg F-18."""
    if nuclide == "Ga-68":
        return GA68_ACTIVITY_MBQ_PER_KG * weight_kg
    if nuclide == "F-18":
        return F18_ACTIVITY_MBQ_PER_KG * weight_kg
    raise InvalidInputError(f"no default activity for {nuclide}", where="activity_mbq",
                            fix="pass activity_mbq")


def _normalise_sex(sex: str) -> str:
    s = str(sex).strip().lower()
    if s in ("m", "male"):
        return "M"
    if s in ("f", "female"):
        return "F"
    raise InvalidInputError(f"sex must be male or female, got {sex!r}", where="sex",
                            fix="use M/male or F/female")


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InvalidInputError("output path exists and is not a folder", where=out_dir)
        if any(out_dir.iterdir()) and not (out_dir / "truth" / "truth.json").is_file():
            raise InvalidInputError(
                "output folder is not empty and is not a previous twin; refusing to replace it",
                where=out_dir, fix="choose a new or empty folder")


def _subseed(seed: int, *tags: Any) -> int:
    """Deterministic 32-bit sub-seed of ``seed`` for a named step."""
    return int(np.random.SeedSequence([int(seed), *[zlib.crc32(str(t).encode()) for t in tags]])
               .generate_state(1)[0])


def _write_labels(image: Image, path: Path, names: dict[int, str] | None, kind: str) -> Path:
    from theranostix.io.nifti import write_nifti

    img = image.with_array(np.asarray(image.array).astype(np.uint16), units="1")
    img.metadata = {}
    sidecar: dict[str, Any] = {"kind": kind}
    if names is not None:
        sidecar["labels"] = {str(k): v for k, v in sorted(names.items())}
    return write_nifti(img, path, sidecar=sidecar)


def make_twin(
    out_dir: str | Path,
    tracer: str = "psma-ga68",
    seed: int = 7,
    sex: str = "M",
    pattern: str = "nodal",
    therapy: str | None = None,
    followup_cycles: int = 0,
    vendor: str = "siemens",
    fwhm_mm: float = 5.0,
    voxel_mm: float = 4.0,
    *,
    activity_mbq: float | None = None,
    duration_s_per_bed: float = 150.0,
    ct_voxel_mm: float = 3.0,
    truth_spacing_mm: float = 2.0,
    spect_times_h: tuple[float, ...] = SPECT_TIMES_H,
    spect_calibration_cps_per_mbq: float = 9.0,
    spect_duration_s: float = 1200.0,
    progress: Callable[[str], None] | None = None,
) -> TwinResult:
    """Make a digital twin and write it to ``out_dir``.

    Parameters
    ----------
    out_dir
        Output folder (created; replaced only if empty or a previous twin).
    tracer
        Diagnostic tracer profile key (``"psma-ga68"``, ``"psma-dcfpyl"``, ``"psma-1007"``,
        ``"fdg"``, ``"dotatate-ga68"``).
    seed
        Seed of everything random (anatomy, disease, uptake, noise, UIDs).
    sex
        ``"M"``/``"male"`` or ``"F"``/``"female"``.
    pattern
        Disease pattern: ``"localized"``, ``"nodal"``, ``"oligometastatic"``, ``"disseminated"``.
    therapy
        ``None`` or ``"lu177-psma617"`` / ``"lu177-dotatate"``: adds SPECT/CT at ``spect_times_h``.
    followup_cycles
        If > 0, adds a follow-up PET/CT of the same patient after this many cycles.
    vendor
        DICOM header flavour of the PET: ``"siemens"``, ``"ge"``, ``"philips"``.
    fwhm_mm, voxel_mm
        PET resolution (FWHM, mm) and voxel size (mm).
    activity_mbq
        Diagnostic activity (MBq); default :func:`default_activity_mbq`.
    duration_s_per_bed
        PET time per bed (s).
    ct_voxel_mm, truth_spacing_mm
        CT voxel size and truth-grid spacing (mm).
    spect_times_h, spect_calibration_cps_per_mbq, spect_duration_s
        SPECT imaging times (h p.i.), calibration factor (cps/MBq) and acquisition duration (s).
    progress
        Optional callback receiving a short message at each step.

    Returns
    -------
    TwinResult
        Paths of every series and truth file, with a summary.
    """
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    out_dir = Path(out_dir)
    # ---- validate everything before any work
    profiles = T.load_tracer_profiles()
    if tracer not in profiles:
        raise InvalidInputError(f"unknown tracer {tracer!r}", where="tracer",
                                fix=f"use one of {', '.join(sorted(profiles))}")
    profile = profiles[tracer]
    sex_code = _normalise_sex(sex)
    if vendor not in VENDORS:
        raise InvalidInputError(f"unknown vendor {vendor!r}", where="vendor",
                                fix=f"use one of {', '.join(VENDORS)}")
    if therapy is not None and therapy not in THERAPY_AGENTS:
        raise InvalidInputError(f"unknown therapy agent {therapy!r}", where="therapy",
                                fix=f"use one of {', '.join(THERAPY_AGENTS)}")
    if isinstance(followup_cycles, bool) or int(followup_cycles) != followup_cycles \
            or not 0 <= followup_cycles <= 10:
        raise InvalidInputError(f"followup_cycles must be an integer 0-10, got {followup_cycles}",
                                where="followup_cycles")
    for v, n in ((fwhm_mm, "fwhm_mm"), (voxel_mm, "voxel_mm"), (ct_voxel_mm, "ct_voxel_mm"),
                 (truth_spacing_mm, "truth_spacing_mm"), (duration_s_per_bed, "duration_s_per_bed")):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise InvalidInputError(f"{n} must be a positive number, got {v}", where=n)
    if truth_spacing_mm > min(voxel_mm, ct_voxel_mm):
        raise InvalidInputError(
            f"truth grid ({truth_spacing_mm} mm) coarser than the scanner voxels", where="truth_spacing_mm",
            fix="use a truth spacing no larger than the PET and CT voxel sizes")
    if fwhm_mm > 30 or voxel_mm > 20:
        raise InvalidInputError("FWHM above 30 mm or voxel above 20 mm is not a PET scanner",
                                where="fwhm_mm/voxel_mm")
    if seed < 0:
        raise InvalidInputError(f"seed must be >= 0, got {seed}", where="seed")
    if therapy is not None and (not spect_times_h or not all(
            math.isfinite(t) and t > 0 for t in spect_times_h)):
        raise InvalidInputError("SPECT times must be positive hours", where="spect_times_h")
    _check_out_dir(out_dir)

    nuclide = profile.radionuclide
    prov = Provenance(parameters=dict(tracer=tracer, seed=seed, sex=sex_code, pattern=pattern,
                                      therapy=therapy, followup_cycles=followup_cycles,
                                      vendor=vendor, fwhm_mm=fwhm_mm, voxel_mm=voxel_mm),
                      decay_data=DECAY_DATA)

    # ---- the body
    say("anatomy")
    anatomy = T.build_anatomy(sex=sex_code, seed=seed, spacing_mm=truth_spacing_mm)
    say("disease")
    disease = T.build_disease(anatomy, pattern=pattern, seed=seed, tracer=tracer)
    say("tracer uptake")
    suv_map, organ_suv = T.tracer_suv_map(anatomy, disease, tracer, seed=seed)
    weight_kg = float(anatomy.weight_kg)
    # as recorded by a dose calibrator: 0.1 MBq
    act_mbq = float(activity_mbq) if activity_mbq is not None else round(
        default_activity_mbq(nuclide, weight_kg), 1)
    if not act_mbq > 0:
        raise InvalidInputError(f"activity must be positive, got {act_mbq}", where="activity_mbq")
    uptake_min = float(profile.uptake_time_min)

    patient = PatientInfo(
        patient_id=f"TWIN{seed:05d}{sex_code}", patient_name=f"Twin^{tracer}^{seed}",
        birth_date=date(1955 + seed % 15, 1 + seed % 12, 1 + seed % 28), sex=sex_code,  # type: ignore[arg-type]
        weight_kg=round(weight_kg, 1), height_m=round(float(anatomy.height_m), 3))
    # DICOM weight is rounded to 0.1 kg: the truth uses exactly the weight written
    weight_kg = patient.weight_kg
    day0 = datetime(2026, 3, 2, 8, 30) + timedelta(days=int(seed % 60))

    series: list[SeriesRecord] = []
    truth_doc: dict[str, Any] = {}
    # true HU averaged onto the CT grid once; every CT of the twin adds its own noise to it
    ct_truth = voxelise(anatomy.hu, scanner_grid(anatomy.hu, ct_voxel_mm))

    def pet_ct_study(tmp: Path, label: str, folder: str, suv: Image, injection: datetime,
                     step_seed: int) -> dict[str, Any]:
        study_uid = make_uid(seed, label, "study")
        for_uid = make_uid(seed, label, "for")
        scan_start = injection + timedelta(minutes=uptake_min)
        ct_time = scan_start - timedelta(minutes=2)
        say(f"{label}: PET")
        pet = simulate_pet(suv, nuclide, fwhm_mm=fwhm_mm, voxel_mm=voxel_mm, activity_mbq=act_mbq,
                           uptake_min=uptake_min, duration_s_per_bed=duration_s_per_bed,
                           seed=_subseed(step_seed, "pet"), weight_kg=weight_kg)
        say(f"{label}: CT")
        ct = simulate_ct(ct_truth, seed=_subseed(step_seed, "ct"), voxel_mm=ct_voxel_mm)
        base = dict(patient=patient, study_uid=study_uid, study_datetime=ct_time,
                    frame_of_reference_uid=for_uid, vendor=vendor,
                    study_description=f"PET/CT {profile.name} ({label})")
        pet_ctx = SeriesContext(**base, series_uid=make_uid(seed, label, "pet"), series_number=3,
                                series_description=f"PET WB {profile.name} AC")
        ct_ctx = SeriesContext(**base, series_uid=make_uid(seed, label, "ct"), series_number=2,
                               series_description="CT WB low dose")
        say(f"{label}: writing DICOM")
        p_pet = write_pet_series(pet, tmp / folder / "pet", pet_ctx, nuclide=nuclide,
                                 agent=profile.name, activity_mbq=act_mbq, injection=injection,
                                 scan_start=scan_start, duration_s_per_bed=duration_s_per_bed)
        p_ct = write_ct_series(ct, tmp / folder / "ct", ct_ctx, acquisition=ct_time)
        for role, p, ctx, n, t in (("pet", p_pet, pet_ctx, pet.shape[0], scan_start),
                                   ("ct", p_ct, ct_ctx, ct.shape[0], ct_time)):
            series.append(SeriesRecord(
                role=role, timepoint=label, modality="PT" if role == "pet" else "CT",
                path=out_dir / p.relative_to(tmp), series_uid=ctx.series_uid,
                study_uid=study_uid, frame_of_reference_uid=for_uid, n_files=n,
                acquisition_datetime=t))
        return dict(study_uid=study_uid, frame_of_reference_uid=for_uid,
                    injection_datetime=injection, scan_start_datetime=scan_start,
                    activity_mbq=act_mbq, uptake_min=uptake_min,
                    reference_activity_bq=act_mbq * 1e6 * radionuclide(nuclide).decay_factor(
                        uptake_min / 60.0),
                    pet=pet.metadata.get("simulation", {}), ct=ct.metadata.get("simulation", {}),
                    pet_grid=dict(shape_zyx=list(pet.shape), spacing_mm=list(pet.spacing),
                                  origin_mm=list(pet.origin)))

    _ensure_parent(out_dir)
    with atomic_dir(out_dir) as tmp:
        (tmp / "truth").mkdir()
        baseline = pet_ct_study(tmp, "baseline", "baseline", suv_map, day0, _subseed(seed, "base"))
        say("truth label maps")
        organ_path = _write_labels(anatomy.labels, tmp / "truth" / "organs.nii.gz", anatomy.names,
                                   "organs")
        lesion_path = _write_labels(disease.labels, tmp / "truth" / "lesions.nii.gz", None,
                                    "lesions")
        truth_doc.update(
            software=f"theranostix {__version__}", decay_data=DECAY_DATA,
            parameters=prov.parameters,
            patient=dict(patient.model_dump(), weight_kg_exact=float(anatomy.weight_kg)),
            tracer=dict(key=tracer, name=profile.name, nuclide=nuclide,
                        uptake_time_min=uptake_min, sources=profile.sources),
            truth_grid=dict(shape_zyx=list(anatomy.labels.shape),
                            spacing_mm=list(anatomy.labels.spacing),
                            origin_mm=list(anatomy.labels.origin)),
            organ_labels={str(k): v for k, v in sorted(anatomy.names.items())},
            organ_volume_ml={n: anatomy.volume_ml(n) for n in sorted(anatomy.names.values())},
            organ_suv_mean=organ_suv,
            lesions=[les.model_dump() for les in disease.lesions],
            baseline=baseline,
            files=dict(organs="truth/organs.nii.gz", lesions="truth/lesions.nii.gz"),
        )
        therapy_start = day0 + timedelta(days=14)
        if therapy is not None:
            agent_name, interval_weeks = THERAPY_AGENTS[therapy]
            say("therapy kinetics")
            kin = T.therapy_kinetics(anatomy, disease, organ_suv, agent=therapy, seed=seed,
                                     administered_mbq=THERAPY_ACTIVITY_MBQ)
            therapy_doc: dict[str, Any] = dict(
                agent=therapy, name=agent_name, nuclide="Lu-177",
                administered_mbq=kin.administered_mbq, injection_datetime=therapy_start,
                calibration_cps_per_mbq=spect_calibration_cps_per_mbq,
                acquisition_duration_s=spect_duration_s,
                kinetics=kin.model_dump(), timepoints=[])
            study_uid = make_uid(seed, "therapy", "study")
            for i, t_h in enumerate(spect_times_h):
                label = f"therapy_{int(round(t_h)):03d}h"
                say(f"{label}: SPECT")
                acq = therapy_start + timedelta(hours=float(t_h))
                act = T.therapy_activity_map(anatomy, disease, kin, float(t_h))
                counts = simulate_spect(act, "Lu-177",
                                        calibration_cps_per_mbq=spect_calibration_cps_per_mbq,
                                        frame_duration_s=spect_duration_s,
                                        seed=_subseed(seed, label, "spect"))
                ct = simulate_ct(ct_truth, seed=_subseed(seed, label, "ct"), voxel_mm=ct_voxel_mm)
                for_uid = make_uid(seed, label, "for")
                base = dict(patient=patient, study_uid=study_uid, study_datetime=therapy_start,
                            frame_of_reference_uid=for_uid, vendor=vendor,
                            study_description=f"{agent_name} post-therapy SPECT/CT")
                sp_ctx = SeriesContext(**base, series_uid=make_uid(seed, label, "spect"),
                                       series_number=10 * (i + 1) + 1,
                                       series_description=f"SPECT Lu177 {t_h:g}h")
                ct_ctx = SeriesContext(**base, series_uid=make_uid(seed, label, "ct"),
                                       series_number=10 * (i + 1),
                                       series_description=f"CT SPECT {t_h:g}h")
                folder = tmp / "therapy" / f"{int(round(t_h)):03d}h"
                p_sp = write_spect_series(
                    counts, folder / "spect", sp_ctx, nuclide="Lu-177", agent=agent_name,
                    activity_mbq=kin.administered_mbq, injection=therapy_start, acquisition=acq,
                    calibration_cps_per_mbq=spect_calibration_cps_per_mbq,
                    frame_duration_s=spect_duration_s)
                ct_time = acq - timedelta(minutes=1)
                p_ct = write_ct_series(ct, folder / "ct", ct_ctx, acquisition=ct_time)
                for role, p, ctx, n, t in (("spect", p_sp, sp_ctx, 1, acq),
                                           ("ct", p_ct, ct_ctx, ct.shape[0], ct_time)):
                    series.append(SeriesRecord(
                        role=role, timepoint=label, modality="NM" if role == "spect" else "CT",
                        path=out_dir / p.relative_to(tmp), series_uid=ctx.series_uid,
                        study_uid=study_uid, frame_of_reference_uid=for_uid, n_files=n,
                        acquisition_datetime=t))
                therapy_doc["timepoints"].append(dict(
                    label=label, hours_after_injection=float(t_h), acquisition_datetime=acq,
                    frame_of_reference_uid=for_uid,
                    total_activity_in_body_mbq=float(act.array.sum() * act.voxel_volume_ml / 1e6),
                    spect=counts.metadata.get("simulation", {}),
                    spect_grid=dict(shape_zyx=list(counts.shape), spacing_mm=list(counts.spacing),
                                    origin_mm=list(counts.origin))))
            truth_doc["therapy"] = therapy_doc
        fu_path = None
        if followup_cycles > 0:
            say("follow-up disease")
            interval_weeks = THERAPY_AGENTS[therapy][1] if therapy else 6.0
            fu_disease, fu_info = T.followup_disease(anatomy, disease, int(followup_cycles),
                                                     seed=seed)
            fu_suv, fu_organ_suv = T.tracer_suv_map(anatomy, fu_disease, tracer, seed=seed)
            # restaging PET one week before the cycle after the last one given
            fu_inj = therapy_start + timedelta(weeks=interval_weeks * int(followup_cycles) - 1)
            fu = pet_ct_study(tmp, "followup", "followup", fu_suv, fu_inj,
                              _subseed(seed, "followup"))
            fu_path = _write_labels(fu_disease.labels, tmp / "truth" / "followup_lesions.nii.gz",
                                    None, "lesions")
            truth_doc["followup"] = dict(
                cycles=int(followup_cycles), **fu, organ_suv_mean=fu_organ_suv,
                lesions=[les.model_dump() for les in fu_disease.lesions], response=fu_info,
                files=dict(lesions="truth/followup_lesions.nii.gz"))
        truth_doc["series"] = [dict(s.model_dump(), path=str(s.path.relative_to(out_dir)))
                               for s in series]
        (tmp / "truth" / "truth.json").write_text(json.dumps(to_jsonable(truth_doc), indent=2)
                                                  + "\n")
    elapsed = time.perf_counter() - t0
    summary = dict(
        n_lesions=len(disease.lesions), weight_kg=weight_kg, height_m=patient.height_m,
        activity_mbq=act_mbq, n_series=len(series), elapsed_s=round(elapsed, 2),
        liver_suv_true=organ_suv.get("liver"),
        n_followup_lesions=len(truth_doc.get("followup", {}).get("lesions", []))
        if followup_cycles else None)
    return TwinResult(
        out_dir=out_dir, patient_id=patient.patient_id, tracer=tracer, nuclide=nuclide,
        vendor=vendor, series=series, truth_json=out_dir / "truth" / "truth.json",
        organ_labels=out_dir / "truth" / organ_path.name,
        lesion_labels=out_dir / "truth" / lesion_path.name,
        followup_lesion_labels=None if fu_path is None else out_dir / "truth" / fu_path.name,
        summary=summary, provenance=prov)


def _ensure_parent(out_dir: Path) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
