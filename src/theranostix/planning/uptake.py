"""Per-region uptake on a diagnostic PET, as a fraction of the injected activity (%IA).

This is the input of the therapy-dose prediction (:mod:`theranostix.planning.prediction`).

Formulas
--------
For an image in SUVbw (g/mL, decay-corrected, body weight W in g) a region of volume V (mL) holds
``%IA = 100 x sum_v SUV_v x V_voxel / W`` of the activity injected, decay-corrected to the
injection time (the definition of SUVbw: C = SUV x A_inj(decayed) / W, assuming 1 g/mL).
For an image in Bq/mL decay-corrected to the scan time ``t`` (DICOM DecayCorrection START):
``%IA = 100 x sum_v C_v V_voxel / (A_inj exp(-lambda t))``.

Masses: volume x density, density 1.0 g/mL, or the mean CT density of the region from a CT in HU
on the same grid (:func:`theranostix.dosimetry.voxel.density_from_hu`, bilinear HU-density
calibration).

Red marrow (when no marrow mask is given): blood-based method, ``%IA_RM = c_blood x RMBLR x m_RM``
with ``c_blood`` the blood-pool %IA per mL, ``RMBLR = 0.19 / (1 - HCT)`` (Sgouros, J Nucl Med
1993;34:689; Hindorf et al., EJNMMI 2010;37:1238) and the ICRP 89 reference red-marrow mass
(1170 g male, 900 g female). With a marrow mask (e.g. lumbar vertebrae) the mask's mean %IA per
gram is taken as representative of all red marrow and multiplied by the reference mass.

Partial volume: with ``pv_fwhm_mm`` the total activity of organ masks up to ``pv_max_volume_ml``
(glands, kidneys, spleen; never the liver, marrow, blood or whole body) and of lesions is taken from
the VOI dilated by one FWHM minus the median background of the 1-2 FWHM shell (voxels of other
masks and lesions excluded); the mass stays the VOI's. :func:`uptake_from_analysis` (the input of
``theranostix plan ANALYSIS_DIR|PET_DIR``) applies it by default with 6 mm.

JSON format of :class:`DiagnosticUptake` (the hand-input route of ``theranostix plan``)::

    {"diagnostic_agent": "psma-ga68", "nuclide": "Ga-68", "scan_time_h": 1.0,
     "patient_weight_kg": 80, "sex": "male",
     "regions": [{"name": "kidneys", "kind": "organ", "percent_ia": 12.0, "mass_g": 320},
                 {"name": "lesion_1", "kind": "lesion", "percent_ia": 0.05, "mass_g": 2.0}]}
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator, model_validator

from theranostix.core.errors import InvalidInputError, invalid_input_from_validation
from theranostix.core.image import Image
from theranostix.core.patient import Administration
from theranostix.core.provenance import Provenance
from theranostix.core.units import BQML, HU, SUV_BW

if TYPE_CHECKING:
    from theranostix.pet.pipeline import AnalysisResult

#: Region names the prediction understands (organs at risk and reporting regions).
ORGAN_REGIONS = ("kidneys", "parotid_glands", "submandibular_glands", "salivary_glands",
                 "lacrimal_glands", "liver", "spleen", "red_marrow", "whole_body")
#: Default haematocrit when none is given (adult reference; a warning is recorded).
DEFAULT_HEMATOCRIT = 0.42
#: Red-marrow extracellular fluid fraction (Sgouros 1993), RMBLR = 0.19 / (1 - HCT).
RMECFF = 0.19
#: ICRP 89 reference red-marrow masses, g.
RED_MARROW_MASS_G = {"male": 1170.0, "female": 900.0}

RegionKind = Literal["organ", "lesion", "whole_body"]


class RegionUptake(BaseModel):
    """Uptake of one region on the diagnostic scan.

    Attributes
    ----------
    name
        Region name (``kidneys``, ``salivary_glands``, ``lesion_3`` ...).
    kind
        ``organ``, ``lesion`` or ``whole_body``.
    percent_ia
        Percent of the injected activity in the region at the scan time, decay-corrected to the
        injection time (i.e. the biological fraction), >= 0.
    mass_g
        Region mass in g (> 0).
    volume_ml
        Region volume in mL, when known.
    suv_mean
        Mean SUVbw, when known.
    percent_ia_voi
        The plain VOI sum (%IA) when ``percent_ia`` carries a partial-volume correction.
    partial_volume
        How partial volume was handled (None: plain VOI sum).
    """

    name: str = Field(min_length=1)
    kind: RegionKind = "organ"
    percent_ia: float
    mass_g: float
    volume_ml: float | None = None
    suv_mean: float | None = None
    percent_ia_voi: float | None = None
    partial_volume: str | None = None

    @field_validator("percent_ia")
    @classmethod
    def _pct(cls, v: float) -> float:
        if not math.isfinite(v) or v < 0 or v > 100.0 + 1e-6:
            raise ValueError(f"percent_ia must lie in [0, 100], got {v}")
        return v

    @field_validator("mass_g")
    @classmethod
    def _mass(cls, v: float) -> float:
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"mass_g must be > 0, got {v}")
        return v


class DiagnosticUptake(BaseModel):
    """Organ and lesion uptake (%IA, mass) of one diagnostic scan."""

    diagnostic_agent: str | None = None
    nuclide: str | None = None
    scan_time_h: float | None = None
    patient_weight_kg: float | None = Field(default=None, gt=0)
    sex: Literal["male", "female"] = "male"
    regions: list[RegionUptake]
    provenance: Provenance = Field(default_factory=Provenance)

    @model_validator(mode="after")
    def _unique(self) -> "DiagnosticUptake":
        names = [r.name for r in self.regions]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate region names {sorted(dup)}")
        if not self.regions:
            raise ValueError("no regions")
        return self

    def region(self, name: str) -> RegionUptake | None:
        """The region called ``name`` (None when absent)."""
        for r in self.regions:
            if r.name == name:
                return r
        return None

    @property
    def lesions(self) -> list[RegionUptake]:
        """Lesion regions."""
        return [r for r in self.regions if r.kind == "lesion"]


def diagnostic_uptake_from_json(text: str, where: str = "uptake JSON") -> DiagnosticUptake:
    """Parse and validate a :class:`DiagnosticUptake` JSON text (raises ``InvalidInputError``)."""
    from pydantic import ValidationError

    try:
        return DiagnosticUptake.model_validate_json(text)
    except ValidationError as exc:
        raise invalid_input_from_validation(exc, "diagnostic uptake", where=where,
                                            fix="see docs/planning.md for the format") from exc


def canonical_region(name: str) -> str | None:
    """Map a mask name to a canonical region (``None`` when unknown).

    Left/right halves map to the bilateral region (``kidney_left`` -> ``kidneys``).
    """
    n = name.strip().lower().replace("-", "_").replace(" ", "_")
    rules = (("kidney", "kidneys"), ("parotid", "parotid_glands"),
             ("submandibular", "submandibular_glands"), ("salivary", "salivary_glands"),
             ("lacrimal", "lacrimal_glands"), ("liver", "liver"), ("spleen", "spleen"),
             ("marrow", "red_marrow"), ("blood", "blood_pool"), ("aort", "blood_pool"),
             ("body", "whole_body"))
    for key, region in rules:
        if key in n:
            return region
    return None


def _fraction_per_voxel(pet: Image, administration: Administration | None, weight_kg: float | None,
                        scan_time_h: float, prov: Provenance) -> np.ndarray:
    """Fraction of the injected activity (decay-corrected to injection) in each voxel."""
    arr = np.asarray(pet.array, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError("the PET image has NaN/inf values", where="pet")
    if pet.units == SUV_BW:
        if weight_kg is None:
            raise InvalidInputError("body weight is needed to convert SUVbw to %IA",
                                    where="patient_weight_kg", fix="give the patient weight in kg")
        return arr * pet.voxel_volume_ml / (weight_kg * 1000.0)
    if pet.units == BQML:
        from theranostix.physics import radionuclide

        if administration is None:
            raise InvalidInputError("a Bq/mL image needs the administration (nuclide, activity)",
                                    where="administration", fix="give the diagnostic administration")
        lam = radionuclide(administration.radionuclide).decay_constant_per_h
        injected_bq = administration.activity_mbq * 1e6 * math.exp(-lam * scan_time_h)
        prov.parameters["bqml_decay_correction"] = "image assumed decay-corrected to the scan start"
        return arr * pet.voxel_volume_ml / injected_bq
    raise InvalidInputError(f"PET units {pet.units!r} are not supported for %IA",
                            where="pet.units", fix=f"give an image in {SUV_BW} or {BQML}")


#: Whole-body %IA accepted above 100 % (SUVbw assumes 1 g/mL; body volume/mass is ~1.02-1.1):
#: values up to this are clipped to 100 % with a warning, larger ones are refused.
WHOLE_BODY_TOLERANCE_PERCENT = 120.0


def _checked_percent(pct: float, region: str, prov: Provenance | None = None) -> float:
    if region == "whole_body" and prov is not None and 100.0 < pct <= WHOLE_BODY_TOLERANCE_PERCENT:
        prov.warn(f"whole-body uptake {pct:.4g} %IA above 100 % (SUVbw assumes 1 g/mL): "
                  "clipped to 100 %")
        return 100.0
    if pct < 0:
        raise InvalidInputError(f"region {region!r} has a negative total uptake ({pct:.4g} %IA)",
                                where="pet", fix="check the image scaling and the mask")
    if pct > 100.0:
        raise InvalidInputError(f"region {region!r} holds {pct:.4g} % of the injected activity",
                                where="pet", fix="check the activity, the weight and the units")
    return pct


#: Default PET resolution (FWHM, mm) for the partial-volume handling: clinical EARL2-like
#: reconstructions have 4-6 mm effective FWHM (SIMULATION.md 6.2), plus ~1-2 mm for the Ga-68
#: positron range (SIMULATION.md 6.1): 6 mm.
DEFAULT_PET_FWHM_MM = 6.0
#: Organ regions up to this mask volume (mL) get the partial-volume handling by default: salivary and
#: lacrimal glands, kidneys (both, ~300 mL) and spleen. The liver (and anything larger) keeps the VOI
#: sum: its surface-to-volume ratio is small and its 1-FWHM ring would reach into the kidney, gut and
#: heart. The ring never includes voxels of other organ masks or lesions, and the median background
#: of the next shell is subtracted, so a neighbour's own level is not counted; a neighbour's
#: spill-out into the ring is (documented limit). On the twins (docs/benchmarks/planning.md) the
#: plain VOI sum of the kidneys read -14 % (median %IA) at 5 mm PSF, the ring -2 %.
PV_MAX_ORGAN_VOLUME_ML = 400.0
#: Regions never corrected: big or distributed (blood-based marrow, whole body, liver).
_PV_NEVER = ("whole_body", "red_marrow", "blood_pool", "liver")


def _pv_corrected_sum(frac: np.ndarray, mask: np.ndarray, exclude: np.ndarray,
                      spacing_zyx_mm: tuple[float, float, float],
                      fwhm_mm: float) -> tuple[float, float, int, int]:
    """Total fraction of a small region from a VOI dilated by one FWHM, background-subtracted.

    ``A = sum(VOI) + sum(ring) - b x n_ring`` with the ring = voxels within ``fwhm_mm`` of the VOI
    (not in ``exclude``) and ``b`` the median per-voxel fraction in the next shell (1-2 FWHM).
    For a Gaussian PSF, 99 % of the activity spilled across a flat boundary lies within 1 FWHM
    (2.355 sigma) of it. Returns (total fraction, background per voxel, ring and shell voxels).
    """
    from scipy import ndimage

    pad = [int(math.ceil(2.0 * fwhm_mm / sp)) + 1 for sp in spacing_zyx_mm]
    idx = np.argwhere(mask)
    lo = [max(0, int(v) - p) for v, p in zip(idx.min(axis=0), pad)]
    hi = [min(n, int(v) + p + 1) for v, n, p in zip(idx.max(axis=0), mask.shape, pad)]
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    m, f, ex = mask[sl], frac[sl], exclude[sl] & ~mask[sl]
    dist = ndimage.distance_transform_edt(~m, sampling=spacing_zyx_mm)
    ring = (dist > 0) & (dist <= fwhm_mm) & ~ex
    shell = (dist > fwhm_mm) & (dist <= 2.0 * fwhm_mm) & ~ex
    bg = float(np.median(f[shell])) if shell.any() else 0.0
    total = float(f[m].sum() + f[ring].sum() - bg * ring.sum())
    return total, bg, int(ring.sum()), int(shell.sum())


def compute_diagnostic_uptake(
    pet: Image,
    administration: Administration | None,
    organ_masks: dict[str, np.ndarray],
    *,
    lesion_labels: np.ndarray | None = None,
    ct: Image | None = None,
    scan_time_h: float,
    patient_weight_kg: float | None = None,
    sex: Literal["male", "female"] = "male",
    hematocrit: float | None = None,
    diagnostic_agent: str | None = None,
    pv_fwhm_mm: float | None = None,
    pv_max_volume_ml: float = PV_MAX_ORGAN_VOLUME_ML,
    pv_lesions: bool = True,
) -> DiagnosticUptake:
    """Per-region %IA and mass from a diagnostic PET.

    Parameters
    ----------
    pet
        PET image in ``SUVbw`` or ``Bq/mL`` (decay-corrected to the scan start).
    administration
        The diagnostic administration (nuclide, activity, time); required for Bq/mL images.
    organ_masks
        Region name -> bool array on the PET grid. Names are mapped by :func:`canonical_region`
        (``kidney_left`` and ``kidney_right`` are merged to ``kidneys``; ``blood_pool``/``aorta``
        feeds the blood-based red-marrow estimate; ``body`` gives the whole body). Unknown names
        are reported as organs under their own name, with a warning.
    lesion_labels
        Integer label map on the PET grid (0 = background); each label becomes ``lesion_<label>``.
    ct
        CT in HU on the PET grid: region densities from HU (else 1.0 g/mL, with a warning).
    scan_time_h
        Time from injection to the scan start, h (> 0).
    patient_weight_kg
        Needed for SUVbw images and the whole-body mass.
    sex
        Selects the reference red-marrow mass.
    hematocrit
        Haematocrit fraction for RMBLR (default 0.42, with a warning).
    diagnostic_agent
        Catalogue key of the diagnostic agent, recorded.
    pv_fwhm_mm
        PET resolution (FWHM, mm). When given, organ regions with a mask of at most
        ``pv_max_volume_ml`` (not liver, marrow, blood, whole body) and, with ``pv_lesions``, every
        lesion get their total activity from the VOI dilated by one FWHM minus the local
        background (:func:`_pv_corrected_sum`); the plain VOI sum is kept in ``percent_ia_voi``.
        ``None``: plain VOI sums (no partial-volume handling).
    pv_max_volume_ml
        Largest organ mask (mL) that gets the partial-volume handling.
    pv_lesions
        Apply the partial-volume handling to lesions too.

    Raises
    ------
    InvalidInputError
        Masks/labels/CT not on the PET grid, empty masks, unsupported units, missing weight.
    """
    if not (math.isfinite(scan_time_h) and scan_time_h > 0):
        raise InvalidInputError(f"scan time must be > 0 h, got {scan_time_h}", where="scan_time_h")
    if pv_fwhm_mm is not None and not (math.isfinite(pv_fwhm_mm) and pv_fwhm_mm > 0):
        raise InvalidInputError(f"pv_fwhm_mm must be > 0, got {pv_fwhm_mm}", where="pv_fwhm_mm")
    prov = Provenance(parameters={"scan_time_h": scan_time_h, "pet_units": pet.units, "sex": sex},
                      inputs={"administration": administration.model_dump(mode="json")
                              if administration is not None else None})
    frac = _fraction_per_voxel(pet, administration, patient_weight_kg, scan_time_h, prov)
    density: np.ndarray | None = None
    if ct is not None:
        if ct.units != HU or not ct.same_grid(pet):
            raise InvalidInputError("the CT must be in HU on the PET grid", where="ct",
                                    fix="resample the CT onto the PET grid first")
        from theranostix.dosimetry.voxel import density_from_hu

        density = np.asarray(density_from_hu(ct).array, dtype=float)
    else:
        prov.warn("no CT given: region masses from volume x 1.0 g/mL")
    vox_ml = pet.voxel_volume_ml
    spacing_zyx = tuple(float(v) for v in pet.spacing[::-1])

    merged: dict[str, np.ndarray] = {}
    for name, mask in organ_masks.items():
        m = np.asarray(mask)
        if m.shape != pet.shape:
            raise InvalidInputError(f"mask {name!r} has shape {m.shape}, PET {pet.shape}",
                                    where=f"organ_masks[{name!r}]", fix="resample masks to the PET grid")
        m = m.astype(bool)
        region = canonical_region(name)
        if region is None:
            prov.warn(f"mask {name!r} is not a known region: reported as is, not used for prediction")
            region = name
        merged[region] = merged.get(region, np.zeros(pet.shape, bool)) | m

    lab = None
    if lesion_labels is not None:
        lab = np.asarray(lesion_labels)
        if lab.shape != pet.shape:
            raise InvalidInputError(f"lesion label map has shape {lab.shape}, PET {pet.shape}",
                                    where="lesion_labels")
    any_organ = np.zeros(pet.shape, bool)
    for region, m in merged.items():
        if region != "whole_body":
            any_organ |= m
    any_lesion = lab > 0 if lab is not None else np.zeros(pet.shape, bool)
    if pv_fwhm_mm is not None:
        prov.parameters["partial_volume"] = {
            "method": "VOI dilated by 1 FWHM minus the median background of the 1-2 FWHM shell",
            "fwhm_mm": pv_fwhm_mm, "organs_up_to_ml": pv_max_volume_ml, "lesions": pv_lesions}

    def mass_of(m: np.ndarray) -> float:
        if density is None:
            return float(m.sum() * vox_ml)
        return float(density[m].sum() * vox_ml)

    def total_percent(region: str, m: np.ndarray, exclude: np.ndarray,
                      correct: bool) -> tuple[float, float | None, str | None]:
        voi = float(frac[m].sum() * 100.0)
        if not correct or pv_fwhm_mm is None:
            return voi, None, None
        tot, bg, n_ring, n_shell = _pv_corrected_sum(frac, m, exclude, spacing_zyx, pv_fwhm_mm)
        if n_shell == 0:
            prov.warn(f"{region}: no background shell for the partial-volume handling: "
                      "background taken as 0")
        if tot * 100.0 < voi:
            # background above the region's own spill-out: the ring only adds noise; keep the VOI
            return voi, voi, (f"VOI + {pv_fwhm_mm:g} mm ring below the VOI sum (hot background): "
                              "VOI sum kept")
        return tot * 100.0, voi, (f"VOI dilated {pv_fwhm_mm:g} mm ({n_ring} ring voxels), "
                                  f"background {bg * 100 / vox_ml:.3g} %IA/mL subtracted")

    regions: list[RegionUptake] = []
    for region, m in merged.items():
        if region in ("blood_pool",):
            continue
        n = int(m.sum())
        if n == 0:
            raise InvalidInputError(f"mask of {region!r} is empty", where="organ_masks")
        if region == "red_marrow":
            continue  # handled below with the reference marrow mass
        if region == "whole_body":
            mass = (patient_weight_kg * 1000.0) if patient_weight_kg else mass_of(m)
        else:
            mass = mass_of(m)
        correct = region not in _PV_NEVER and n * vox_ml <= pv_max_volume_ml
        raw, voi, how = total_percent(region, m, any_organ | any_lesion, correct)
        pct = _checked_percent(raw, region, prov)
        suv = float(np.mean(pet.array[m])) if pet.units == SUV_BW else None
        regions.append(RegionUptake(name=region, kind="whole_body" if region == "whole_body"
                                    else "organ", percent_ia=pct, mass_g=mass,
                                    volume_ml=n * vox_ml, suv_mean=suv, percent_ia_voi=voi,
                                    partial_volume=how))
    have = {r.name for r in regions}
    if "salivary_glands" not in have and have & {"parotid_glands", "submandibular_glands"}:
        parts = [r for r in regions if r.name in ("parotid_glands", "submandibular_glands")]
        regions.append(RegionUptake(name="salivary_glands", kind="organ",
                                    percent_ia=sum(p.percent_ia for p in parts),
                                    mass_g=sum(p.mass_g for p in parts),
                                    volume_ml=sum(p.volume_ml or 0.0 for p in parts),
                                    percent_ia_voi=(sum((p.percent_ia_voi or p.percent_ia)
                                                        for p in parts)
                                                    if any(p.partial_volume for p in parts) else None),
                                    partial_volume="; ".join(p.partial_volume for p in parts
                                                             if p.partial_volume) or None))
        prov.parameters["salivary_glands"] = "parotid + submandibular glands"
    if "whole_body" not in have:
        mass = patient_weight_kg * 1000.0 if patient_weight_kg else float(frac.size * vox_ml)
        regions.append(RegionUptake(name="whole_body", kind="whole_body",
                                    percent_ia=_checked_percent(float(frac.sum() * 100.0),
                                                                "whole_body", prov),
                                    mass_g=mass))
        prov.warn("whole body = the PET field of view (no body mask given)")

    rm_mass = RED_MARROW_MASS_G[sex]
    if "red_marrow" in merged:
        m = merged["red_marrow"]
        per_g = float(frac[m].sum()) / mass_of(m)
        regions.append(RegionUptake(name="red_marrow", kind="organ",
                                    percent_ia=per_g * rm_mass * 100.0, mass_g=rm_mass))
        prov.parameters["red_marrow_method"] = "marrow mask %IA/g x ICRP 89 reference mass"
    elif "blood_pool" in merged:
        hct = hematocrit
        if hct is None:
            hct = DEFAULT_HEMATOCRIT
            prov.warn(f"haematocrit not given: {DEFAULT_HEMATOCRIT} assumed for RMBLR")
        if not 0 < hct < 1:
            raise InvalidInputError(f"haematocrit must be in (0, 1), got {hct}", where="hematocrit")
        m = merged["blood_pool"]
        per_ml = float(frac[m].sum()) / (m.sum() * vox_ml)
        rmblr = RMECFF / (1.0 - hct)
        regions.append(RegionUptake(name="red_marrow", kind="organ",
                                    percent_ia=per_ml * rmblr * rm_mass * 100.0, mass_g=rm_mass))
        prov.parameters["red_marrow_method"] = (
            f"blood-based: RMBLR = 0.19/(1-HCT) = {rmblr:.4f}, reference mass {rm_mass} g")
    else:
        prov.warn("neither a red-marrow nor a blood-pool mask: red marrow not estimated")

    if lab is not None:
        for label in sorted(int(v) for v in np.unique(lab) if v > 0):
            m = lab == label
            raw, voi, how = total_percent(f"lesion_{label}", m, any_lesion, pv_lesions)
            regions.append(RegionUptake(
                name=f"lesion_{label}", kind="lesion",
                percent_ia=_checked_percent(raw, f"lesion_{label}"),
                mass_g=mass_of(m), volume_ml=float(m.sum() * vox_ml),
                suv_mean=float(np.mean(pet.array[m])) if pet.units == SUV_BW else None,
                percent_ia_voi=voi, partial_volume=how))
    return DiagnosticUptake(
        diagnostic_agent=diagnostic_agent or (administration.agent if administration else None),
        nuclide=administration.radionuclide if administration is not None else None,
        scan_time_h=scan_time_h, patient_weight_kg=patient_weight_kg, sex=sex, regions=regions,
        provenance=prov)


def uptake_from_analysis(
    analysis: "AnalysisResult",
    *,
    pv_fwhm_mm: float | None = DEFAULT_PET_FWHM_MM,
    pv_max_volume_ml: float = PV_MAX_ORGAN_VOLUME_ML,
    hematocrit: float | None = None,
    use_ct: bool = True,
) -> DiagnosticUptake:
    """Organ and lesion %IA at scan time from a PET analysis (``theranostix analyze`` result).

    Uses the analysed SUVbw image, the organ masks the analysis used (``analysis.organs`` with
    ``analysis.organ_names``; left/right halves merged), the lesion label map, the patient's weight
    and sex, the uptake time, and the CT (resampled onto the PET grid) for region masses.

    Parameters
    ----------
    analysis
        :class:`theranostix.pet.pipeline.AnalysisResult` with ``suv`` and ``organs`` loaded
        (:func:`theranostix.io.analysis_folder.read_analysis` or ``analyze_study``).
    pv_fwhm_mm
        PET resolution for the partial-volume handling of small organs and lesions (default
        :data:`DEFAULT_PET_FWHM_MM`); ``None`` for plain VOI sums.
    pv_max_volume_ml
        Largest organ mask (mL) that gets the partial-volume handling.
    hematocrit
        For the blood-based red-marrow estimate (default 0.42 with a warning).
    use_ct
        Region masses from the CT density (else 1.0 g/mL).

    Raises
    ------
    InvalidInputError
        No SUV image, no organ masks, no SUVbw units, no body weight or no uptake time.
    """
    where = "analysis"
    if analysis.suv is None:
        raise InvalidInputError("the analysis has no SUV image", where=where,
                                fix="read the whole analysis folder (suv.nii.gz) or re-run analyze")
    if analysis.suv.units != SUV_BW:
        raise InvalidInputError(f"the analysed image is in {analysis.suv.units!r}, not {SUV_BW}",
                                where=f"{where}.suv", fix="re-run analyze on a PET with SUVbw")
    if analysis.organs is None or not analysis.organ_names:
        raise InvalidInputError("the analysis has no organ masks", where=f"{where}.organs",
                                fix="re-run `theranostix analyze` with --organs MASKS (e.g. "
                                    "TotalSegmentator) or with a CT")
    weight = (analysis.patient or {}).get("weight_kg")
    if not weight or not (math.isfinite(float(weight)) and float(weight) > 0):
        raise InvalidInputError("patient weight missing from the analysis", where=f"{where}.patient",
                                fix="the PET header must carry PatientWeight (0010,1030)")
    if analysis.uptake_time_min is None or not analysis.uptake_time_min > 0:
        raise InvalidInputError("uptake time (injection to scan) missing from the analysis",
                                where=f"{where}.uptake_time_min",
                                fix="the PET header must carry the injection time")
    sex_raw = str((analysis.patient or {}).get("sex") or "M").strip().upper()
    sex: Literal["male", "female"] = "female" if sex_raw.startswith("F") else "male"
    organs = analysis.organs
    if organs.shape != analysis.suv.shape:
        raise InvalidInputError(f"organ label map {organs.shape} is not on the PET grid "
                                f"{analysis.suv.shape}", where=f"{where}.organs")
    arr = np.asarray(organs.array)
    masks: dict[str, np.ndarray] = {}
    skipped: list[str] = []
    for label, name in sorted(analysis.organ_names.items()):
        if canonical_region(name) is None:
            skipped.append(name)
            continue
        m = arr == int(label)
        if not m.any():
            continue
        masks[name] = masks[name] | m if name in masks else m
    if not masks:
        raise InvalidInputError("none of the analysis organ masks is a planning region",
                                where=f"{where}.organ_names",
                                fix="masks named kidney*, parotid*, submandibular*, lacrimal*, "
                                    "liver, spleen, aorta/blood are needed")
    ct = None
    if use_ct and analysis.ct is not None:
        from theranostix.core.resample import resample_to

        ct = analysis.ct if analysis.ct.same_grid(analysis.suv) else resample_to(
            analysis.ct, analysis.suv, "linear", -1000.0)
    labels = analysis.labels.array if analysis.labels is not None else None
    out = compute_diagnostic_uptake(
        analysis.suv, None, masks, lesion_labels=labels, ct=ct,
        scan_time_h=float(analysis.uptake_time_min) / 60.0, patient_weight_kg=float(weight),
        sex=sex, hematocrit=hematocrit, diagnostic_agent=analysis.tracer, pv_fwhm_mm=pv_fwhm_mm,
        pv_max_volume_ml=pv_max_volume_ml)
    if skipped:
        out.provenance.parameters["organ_masks_not_used"] = sorted(set(skipped))
    out.provenance.inputs["analysis"] = {"tracer": analysis.tracer,
                                         "lesions": len(analysis.lesions.lesions)}
    return out
