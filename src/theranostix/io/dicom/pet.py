"""Quantitative reading of DICOM PET series: Bq/mL and SUV (bw, lbm, bsa, ibw).

Implements the rules of ``shared/reference/pet/SUV.md`` (QIBA vendor-neutral pseudo-code, IBSI SUV
manual): per-slice RescaleSlope; Units BQML / CNTS (Philips private factors through the private
creator) / GML (+SUVType) / CM2ML; DecayCorrection START / ADMIN / NONE; the choice of the decay
reference time; dose in Bq or MBq; date-less injection times and midnight; header half-life with
a radionuclide-code fallback. Unsafe series are refused with :class:`InvalidInputError` naming
the tag and the fix. Every decision is recorded in the result's provenance.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
from pydicom.dataset import Dataset

from theranostix.core import units as U
from theranostix.core.body_size import bsa_dubois_m2, ibw_kg, lbm_james_kg, lbm_janmahasatian_kg
from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.patient import Administration, Patient
from theranostix.core.provenance import Provenance
from theranostix.io.dicom.dates import combine, nearest_day_before, parse_da, parse_dt, parse_tm
from theranostix.io.dicom.files import select_series
from theranostix.io.dicom.geometry import refuse_multiframe, sort_and_check
from theranostix.io.dicom.private import (
    GE_DECAY_DATETIME,
    PHILIPS_ACTIVITY_FACTOR,
    PHILIPS_SUV_FACTOR,
    SIEMENS_DECAY_DATETIME,
    get_private,
)
from theranostix.physics.radionuclides import DECAY_DATA, radionuclide

SuvKind = Literal["bw", "lbm", "bsa", "ibw"]
ReferenceTimeRule = Literal["auto", "qiba", "ibsi-b", "series", "acquisition"]

SUV_UNITS: dict[str, str] = {"bw": U.SUV_BW, "lbm": U.SUV_LBM, "bsa": U.SUV_BSA, "ibw": U.SUV_IBW}

#: Radionuclide codes (SNOMED-RT "C-..." and SNOMED CT) used in RadionuclideCodeSequence (0054,0300).
RADIONUCLIDE_CODES: dict[str, str] = {
    "C-111A1": "F-18", "77004003": "F-18",
    "C-131A1": "Ga-68", "C-128A2": "Ga-68", "35708000": "Ga-68",
    "C-105A1": "C-11", "39633000": "C-11",
    "C-107A1": "N-13", "21576001": "N-13",
    "C-B1038": "O-15", "C-127A4": "Cu-64", "C-1018C": "Zr-89", "C-159A2": "Rb-82",
    "C-162A3": "I-124", "C-163AA": "Y-90", "C-145A4": "Lu-177", "C-163A8": "Tc-99m",
}
_MEANING = re.compile(r"\^?(\d{1,3})\^?\s*([A-Za-z]+)")
_ELEMENTS = {"fluorine": "F", "gallium": "Ga", "carbon": "C", "nitrogen": "N", "oxygen": "O",
             "copper": "Cu", "zirconium": "Zr", "rubidium": "Rb", "iodine": "I", "yttrium": "Y",
             "lutetium": "Lu", "technetium": "Tc", "scandium": "Sc", "indium": "In"}

#: RadionuclideTotalDose values below this are taken to be in MBq (IBSI: bimodal at ~4e2 and ~4e8).
DOSE_MBQ_THRESHOLD = 1.0e5
#: Back-computed per-frame reference times that differ more than this are reported.
REFERENCE_TIME_SPREAD_S = 5.0


@dataclass(eq=False)
class PetVolume:
    """A quantified PET volume.

    Attributes
    ----------
    image
        SUV image (float32) of kind ``suv_kind`` (units ``SUVbw``, ``SUVlbm``, ``SUVbsa``, ``SUVibw``).
    patient, administration
        Patient and injection as read (and overridden) from the headers.
    reference_time
        Time the activity concentrations are decay-corrected to (scanner local time).
    suv_kind
        ``"bw"``, ``"lbm"`` (Janmahasatian), ``"bsa"`` or ``"ibw"``.
    suvbw_to_bqml
        Factor converting SUVbw to Bq/mL at ``reference_time`` (= D_ref[Bq] / W[g]); ``None``
        when the injected dose is unknown (GML series without dose).
    provenance
        Rules applied, inputs (series UID, files) and every warning.
    """

    image: Image
    patient: Patient
    administration: Administration | None
    reference_time: datetime | None
    suv_kind: str
    suvbw_to_bqml: float | None
    suv_to_suvbw: float
    provenance: Provenance
    series_uid: str = ""
    study_uid: str = ""
    info: dict = field(default_factory=dict)

    @property
    def bqml(self) -> Image:
        """Activity concentration in Bq/mL at :attr:`reference_time` (computed on demand)."""
        if self.suvbw_to_bqml is None:
            raise InvalidInputError(
                "activity concentration is unknown: the series stores SUV and has no injected dose",
                where="RadionuclideTotalDose (0018,1074)")
        f = np.float32(self.suv_to_suvbw * self.suvbw_to_bqml)
        return self.image.with_array(self.image.array * f, units=U.BQML)

    def suv(self, kind: SuvKind) -> Image:
        """The same volume as another SUV kind (needs height and sex for lbm/bsa/ibw)."""
        prov = Provenance()
        to_kind = _suvbw_to_kind(kind, self.patient, prov)
        f = np.float32(self.suv_to_suvbw * to_kind)
        return self.image.with_array(self.image.array * f, units=SUV_UNITS[kind])


# ----------------------------------------------------------------------------------------- helpers
def _where(f: Path, tag: str) -> str:
    return f"{f} {tag}"


def _float_or_none(v: object) -> float | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def nuclide_from_code(item: Dataset) -> str | None:
    """Radionuclide named by RadionuclideCodeSequence (0054,0300) (code value, else meaning)."""
    seq = item.get("RadionuclideCodeSequence")
    if not seq:
        return None
    code = seq[0]
    value = str(code.get("CodeValue", "")).strip()
    if value in RADIONUCLIDE_CODES:
        return RADIONUCLIDE_CODES[value]
    m = _MEANING.search(str(code.get("CodeMeaning", "")))
    if m and m.group(2).lower() in _ELEMENTS:
        return f"{_ELEMENTS[m.group(2).lower()]}-{int(m.group(1))}"
    return None


def _nuclide_from_half_life(half_life_s: float) -> str | None:
    for name in ("F-18", "Ga-68", "C-11", "N-13", "O-15", "Cu-64", "Zr-89", "Rb-82", "Sc-44", "I-124"):
        if abs(radionuclide(name).half_life_s - half_life_s) / half_life_s < 0.005:
            return name
    return None


def _suvbw_to_kind(kind: str, patient: Patient, prov: Provenance) -> float:
    """Factor converting SUVbw to SUV ``kind`` (normalising mass or area / body weight)."""
    w = patient.weight_kg
    assert w is not None
    if kind == "bw":
        return 1.0
    if kind not in SUV_UNITS:
        raise InvalidInputError(f"unknown SUV kind {kind!r}", where="suv",
                                fix="use one of bw, lbm, bsa, ibw.")
    if patient.height_m is None:
        raise InvalidInputError(
            f"SUV{kind} needs the patient height", where="PatientSize (0010,1020)",
            fix="pass height_m (metres) or use SUVbw.")
    if kind in ("lbm", "ibw") and patient.sex == "O":
        prov.warn(f"PatientSex is O: SUV{kind} uses the mean of the male and female formulas (IBSI)")
    h_cm = patient.height_m * 100.0
    if kind == "lbm":
        prov.parameters["lbm_formula"] = "Janmahasatian 2005"
        return lbm_janmahasatian_kg(w, h_cm, patient.sex) / w
    if kind == "ibw":
        return ibw_kg(h_cm, patient.sex) / w
    # SUVbsa [cm2/mL] = A_c * BSA[cm2] / D = SUVbw * BSA[cm2] / W[g]
    return bsa_dubois_m2(w, h_cm) * 1.0e4 / (w * 1000.0)


def _frame_average_time_s(lam_per_s: float, duration_s: float) -> float:
    """Time after frame start at which the activity equals the frame average (decay only)."""
    x = lam_per_s * duration_s
    if x < 1e-9:
        return duration_s / 2.0
    return math.log(x / (1.0 - math.exp(-x))) / lam_per_s


# --------------------------------------------------------------------------------------- the plan
@dataclass
class _Plan:
    """Everything decided from the headers, before any pixel is read."""

    patient: Patient
    administration: Administration | None
    reference_time: datetime | None
    units: str
    decay_correction: str
    slice_factors: np.ndarray  # multiplies stored*slope to give SUVbw
    suvbw_to_bqml: float | None
    provenance: Provenance


def _plan(items: list[tuple[Path, Dataset]], *, weight_kg: float | None, height_m: float | None,
          sex: str | None, dose_mbq: float | None, injection_time: datetime | None,
          reference_time_rule: ReferenceTimeRule, prov: Provenance) -> _Plan:
    f0, d0 = items[0]
    manufacturer = str(d0.get("Manufacturer", "") or "")
    prov.parameters["reference_time_rule"] = reference_time_rule

    # ---- patient
    w_hdr = _float_or_none(d0.get("PatientWeight"))
    if weight_kg is not None:
        w = float(weight_kg)
        prov.parameters["weight_kg_override"] = w
    elif w_hdr is None or w_hdr <= 0:
        raise InvalidInputError(
            "PatientWeight is missing or zero: SUV cannot be computed",
            where=_where(f0, "PatientWeight (0010,1030)"), fix="pass the weight in kg (--weight-kg).")
    elif w_hdr >= 1000.0:
        w = w_hdr / 1000.0
        prov.warn(f"PatientWeight {w_hdr:g} looks like grams; used {w:g} kg")
    else:
        w = w_hdr
    h_hdr = _float_or_none(d0.get("PatientSize"))
    if height_m is not None:
        h: float | None = float(height_m)
        prov.parameters["height_m_override"] = h
    elif h_hdr is not None and h_hdr > 0:
        h = h_hdr / 100.0 if h_hdr > 3.0 else h_hdr
        if h_hdr > 3.0:
            prov.warn(f"PatientSize {h_hdr:g} looks like centimetres; used {h:g} m")
    else:
        h = None
    s_hdr = str(d0.get("PatientSex", "") or "").upper()
    sx = (sex or s_hdr or "O").upper()[:1]
    if sx not in ("M", "F", "O"):
        sx = "O"
    patient = Patient(patient_id=str(d0.get("PatientID", "") or "") or None, sex=sx,  # type: ignore[arg-type]
                      weight_kg=w, height_m=h, birth_date=parse_da(d0.get("PatientBirthDate"), "PatientBirthDate"))

    # ---- units and corrections
    units = str(d0.get("Units", "") or "").upper()
    if units not in ("BQML", "CNTS", "GML", "CM2ML"):
        raise InvalidInputError(
            f"Units {units or '(empty)'!r} cannot be converted to SUV",
            where=_where(f0, "Units (0054,1001)"),
            fix="theranostix reads BQML, GML, CM2ML and Philips CNTS with private scale factors; "
                "export the series in BQML from the scanner.")
    dc = str(d0.get("DecayCorrection", "") or "").upper()
    if dc not in ("START", "ADMIN", "NONE"):
        raise InvalidInputError(f"DecayCorrection {dc or '(empty)'!r} is not START, ADMIN or NONE",
                                where=_where(f0, "DecayCorrection (0054,1102)"))
    corrected = {str(c).upper() for c in (d0.get("CorrectedImage") or [])}
    if "ATTN" not in corrected:
        raise InvalidInputError(
            "image is not attenuation corrected (CorrectedImage lacks ATTN): not quantitative",
            where=_where(f0, "CorrectedImage (0028,0051)"), fix="use the attenuation-corrected series.")
    if dc != "NONE" and "DECY" not in corrected:
        raise InvalidInputError(
            f"DecayCorrection is {dc} but CorrectedImage lacks DECY: contradictory header",
            where=_where(f0, "CorrectedImage (0028,0051)"),
            fix="check the export; theranostix will not guess whether decay correction was applied.")
    prov.parameters.update(units=units, decay_correction=dc, manufacturer=manufacturer)

    # ---- per-slice rescale
    slopes = np.empty(len(items))
    for k, (f, ds) in enumerate(items):
        if str(ds.get("Units", "") or "").upper() != units or str(ds.get("DecayCorrection", "") or "").upper() != dc:
            raise InvalidInputError("mixed series: Units or DecayCorrection differ between slices",
                                    where=_where(f, "Units/DecayCorrection"))
        icpt = _float_or_none(ds.get("RescaleIntercept", 0.0)) or 0.0
        if icpt != 0.0:
            raise InvalidInputError(
                f"RescaleIntercept is {icpt:g}; PET must have intercept 0 (QIBA)",
                where=_where(f, "RescaleIntercept (0028,1052)"),
                fix="re-export the series; a non-zero intercept makes SUV ambiguous.")
        slopes[k] = _float_or_none(ds.get("RescaleSlope", 1.0)) or 1.0
    if np.ptp(slopes) > 0:
        prov.parameters["rescale_slope"] = "per slice"

    # ---- radiopharmaceutical
    rp_seq = d0.get("RadiopharmaceuticalInformationSequence")
    item = rp_seq[0] if rp_seq else Dataset()
    agent = str(item.get("Radiopharmaceutical", "") or "") or None
    half_life_s = _float_or_none(item.get("RadionuclideHalfLife"))
    nuclide = nuclide_from_code(item)
    if half_life_s is not None and half_life_s > 0:
        hl_source = "RadionuclideHalfLife (0018,1075)"
        nuclide = nuclide or _nuclide_from_half_life(half_life_s)
    elif nuclide is not None:
        half_life_s = radionuclide(nuclide).half_life_s
        hl_source = f"ICRP-107 half-life of {nuclide} from RadionuclideCodeSequence (0054,0300)"
        prov.warn(f"RadionuclideHalfLife missing: used {hl_source} = {half_life_s:.1f} s")
        prov.decay_data = DECAY_DATA
    else:
        half_life_s = None
        hl_source = ""
    needs_dose = units in ("BQML", "CNTS")

    dose_hdr = _float_or_none(item.get("RadionuclideTotalDose"))
    if dose_mbq is not None:
        dose_bq: float | None = float(dose_mbq) * 1e6
        prov.parameters["dose_mbq_override"] = float(dose_mbq)
    elif dose_hdr is None or dose_hdr <= 0:
        dose_bq = None
    elif dose_hdr < DOSE_MBQ_THRESHOLD:
        dose_bq = dose_hdr * 1e6
        prov.warn(f"RadionuclideTotalDose {dose_hdr:g} is too small to be Bq: read as MBq")
    else:
        dose_bq = dose_hdr

    # acquisition times (per slice) and series time
    series_dt = combine(parse_da(d0.get("SeriesDate"), "SeriesDate (0008,0021)"),
                        parse_tm(d0.get("SeriesTime"), "SeriesTime (0008,0031)"))
    acq = []
    for f, ds in items:
        adt = parse_dt(ds.get("AcquisitionDateTime"), "AcquisitionDateTime (0008,002A)") or combine(
            parse_da(ds.get("AcquisitionDate") or ds.get("SeriesDate"), "AcquisitionDate (0008,0022)"),
            parse_tm(ds.get("AcquisitionTime"), "AcquisitionTime (0008,0032)"))
        acq.append(adt)
    acq_known = [a for a in acq if a is not None]
    earliest_acq = min(acq_known) if acq_known else None
    scan_anchor = series_dt or earliest_acq

    # injection datetime
    if injection_time is not None:
        t_inj: datetime | None = injection_time
        prov.parameters["injection_time_override"] = injection_time.isoformat()
    else:
        t_inj = parse_dt(item.get("RadiopharmaceuticalStartDateTime"),
                         "RadiopharmaceuticalStartDateTime (0018,1078)")
        if t_inj is not None:
            prov.parameters["injection_time_source"] = "RadiopharmaceuticalStartDateTime (0018,1078)"
        else:
            tm = parse_tm(item.get("RadiopharmaceuticalStartTime"), "RadiopharmaceuticalStartTime (0018,1072)")
            if tm is not None and scan_anchor is not None:
                t_inj = nearest_day_before(tm, scan_anchor)
                prov.parameters["injection_time_source"] = "RadiopharmaceuticalStartTime (0018,1072)"
                if t_inj.date() != scan_anchor.date():
                    prov.warn("injection time has no date and is later in the day than the scan: "
                              "assumed the day before (injection before midnight)")
                else:
                    prov.warn("injection time has no date (RadiopharmaceuticalStartTime only): "
                              "assumed the scan day")

    if needs_dose:
        if dose_bq is None:
            raise InvalidInputError("no injected dose: SUV cannot be computed",
                                    where=_where(f0, "RadionuclideTotalDose (0018,1074)"),
                                    fix="pass the injected activity (--dose-mbq).")
        if t_inj is None:
            raise InvalidInputError(
                "no injection time: decay correction is impossible",
                where=_where(f0, "RadiopharmaceuticalStartDateTime (0018,1078) / StartTime (0018,1072)"),
                fix="pass the injection time (--injection-time).")
        if half_life_s is None:
            raise InvalidInputError(
                "no half-life and no recognisable radionuclide code",
                where=_where(f0, "RadionuclideHalfLife (0018,1075) / RadionuclideCodeSequence (0054,0300)"),
                fix="check the export; theranostix never assumes a default half-life.")

    administration = None
    if dose_bq is not None and t_inj is not None and nuclide is not None:
        administration = Administration(agent=agent, radionuclide=nuclide, activity_mbq=dose_bq / 1e6,
                                        datetime=t_inj, half_life_s=half_life_s, half_life_source=hl_source)
    elif dose_bq is not None and t_inj is not None:
        prov.warn("radionuclide not identified from the header; administration kept without nuclide name")

    # ---- native units -> SUVbw, per slice
    native_to_bqml = np.ones(len(items))
    suv_direct: np.ndarray | None = None
    if units == "CNTS":
        act = get_private(d0, PHILIPS_ACTIVITY_FACTOR, "Philips", prov)
        suvf = get_private(d0, PHILIPS_SUV_FACTOR, "Philips", prov)
        act_f, suv_f = _float_or_none(act), _float_or_none(suvf)
        if act_f and act_f > 0:
            native_to_bqml[:] = act_f
            prov.parameters["units_path"] = "CNTS x Philips activity-concentration factor (7053,1009) -> Bq/mL"
        elif suv_f and suv_f > 0:
            suv_direct = np.full(len(items), suv_f)
            prov.parameters["units_path"] = "CNTS x Philips SUV scale factor (7053,1000) -> SUVbw"
        else:
            raise InvalidInputError(
                "Units CNTS without a usable Philips scale factor (missing or 0.0)",
                where=_where(f0, "Philips PET Private Group (7053,1000)/(7053,1009)"),
                fix="export the series in BQML.")
    elif units == "BQML":
        prov.parameters["units_path"] = "BQML"

    lam = math.log(2.0) / half_life_s if half_life_s else None
    t_ref: datetime | None = None
    suvbw_to_bqml: float | None = None
    slice_factor = np.ones(len(items))

    if units in ("GML", "CM2ML"):
        suv_type = str(d0.get("SUVType", "") or "").upper()
        if units == "CM2ML":
            if suv_type not in ("", "BSA"):
                raise InvalidInputError(f"Units CM2ML with SUVType {suv_type!r}",
                                        where=_where(f0, "SUVType (0054,1006)"))
            if patient.height_m is None:
                raise InvalidInputError("SUVbsa series needs PatientSize to convert to SUVbw",
                                        where=_where(f0, "PatientSize (0010,1020)"), fix="pass height_m.")
            norm_g = bsa_dubois_m2(w, patient.height_m * 100.0) * 1e4  # cm2
            prov.parameters["units_path"] = "CM2ML (SUVbsa, Du Bois) -> SUVbw"
        else:
            if not suv_type:
                suv_type = "BW"
                prov.warn("Units GML with empty SUVType: taken as BW (the DICOM default)")
            h_cm = None if patient.height_m is None else patient.height_m * 100.0
            if suv_type in ("LBM", "LBMJAMES128", "LBMJANMA", "IBW") and h_cm is None:
                raise InvalidInputError(f"SUVType {suv_type} needs PatientSize to convert to SUVbw",
                                        where=_where(f0, "PatientSize (0010,1020)"), fix="pass height_m.")
            if suv_type in ("LBM", "LBMJAMES128", "IBW") and patient.sex == "O":
                prov.warn(f"SUVType {suv_type} with PatientSex O: mean of male and female formulas (IBSI)")
            if suv_type == "BW":
                mass_kg = w
            elif suv_type == "LBM":
                mass_kg = lbm_james_kg(w, h_cm, patient.sex, male_coefficient=120.0)  # type: ignore[arg-type]
            elif suv_type == "LBMJAMES128":
                mass_kg = lbm_james_kg(w, h_cm, patient.sex)  # type: ignore[arg-type]
            elif suv_type == "LBMJANMA":
                mass_kg = lbm_janmahasatian_kg(w, h_cm, patient.sex)  # type: ignore[arg-type]
            elif suv_type == "IBW":
                mass_kg = ibw_kg(h_cm, patient.sex)  # type: ignore[arg-type]
            else:
                raise InvalidInputError(f"unknown SUVType {suv_type!r}", where=_where(f0, "SUVType (0054,1006)"))
            norm_g = mass_kg * 1000.0
            prov.parameters["units_path"] = f"GML (SUVType {suv_type}) -> SUVbw"
        slice_factor[:] = (w * 1000.0) / norm_g
        if dose_bq is not None and t_inj is not None and lam is not None:
            t_ref = _start_reference(items, acq, series_dt, earliest_acq, lam, d0, manufacturer,
                                     reference_time_rule, prov) if dc == "START" else (
                t_inj if dc == "ADMIN" else earliest_acq)
            if t_ref is not None:
                d_ref = dose_bq * math.exp(-lam * (t_ref - t_inj).total_seconds())
                suvbw_to_bqml = d_ref / (w * 1000.0)
        else:
            prov.warn("series stores SUV without injected dose/time: Bq/mL is not available")
    elif suv_direct is not None:
        slice_factor[:] = suv_direct
        if dc == "START" and dose_bq is not None and t_inj is not None and lam is not None:
            t_ref = _start_reference(items, acq, series_dt, earliest_acq, lam, d0, manufacturer,
                                     reference_time_rule, prov)
            d_ref = dose_bq * math.exp(-lam * (t_ref - t_inj).total_seconds())
            suvbw_to_bqml = d_ref / (w * 1000.0)
    else:
        assert lam is not None and t_inj is not None and dose_bq is not None
        if dc == "START":
            t_ref = _start_reference(items, acq, series_dt, earliest_acq, lam, d0, manufacturer,
                                     reference_time_rule, prov)
            decay_s = (t_ref - t_inj).total_seconds()
            frame_factor = np.ones(len(items))
        elif dc == "ADMIN":
            t_ref = t_inj
            decay_s = 0.0
            frame_factor = np.ones(len(items))
            prov.parameters["reference_time_source"] = "injection time (DecayCorrection ADMIN)"
        else:  # NONE: correct each frame for decay to a common reference (earliest frame start)
            if earliest_acq is None or any(a is None for a in acq):
                raise InvalidInputError(
                    "DecayCorrection NONE needs AcquisitionDate/Time on every slice",
                    where=_where(f0, "AcquisitionTime (0008,0032)"))
            t_ref = earliest_acq
            decay_s = (t_ref - t_inj).total_seconds()
            frame_factor = np.empty(len(items))
            for k, (f, ds) in enumerate(items):
                dur = _float_or_none(ds.get("ActualFrameDuration"))
                if dur is None or dur <= 0:
                    raise InvalidInputError(
                        "DecayCorrection NONE needs ActualFrameDuration on every slice",
                        where=_where(f, "ActualFrameDuration (0018,1242)"))
                x = lam * dur / 1000.0
                frame_factor[k] = (x / (1.0 - math.exp(-x))) * math.exp(
                    lam * (acq[k] - t_ref).total_seconds())  # type: ignore[operator]
            prov.parameters["reference_time_source"] = (
                "earliest AcquisitionDateTime; each frame decay-corrected (incl. decay during the frame)")
        if decay_s < 0:
            raise InvalidInputError(
                f"decay time is negative ({decay_s / 60:.1f} min): reference time "
                f"{t_ref} is before the injection {t_inj}",
                where=_where(f0, "RadiopharmaceuticalStartDateTime (0018,1078) / SeriesTime (0008,0031)"),
                fix="check the injection date and time.")
        d_ref = dose_bq * math.exp(-lam * decay_s)
        suvbw_to_bqml = d_ref / (w * 1000.0)
        slice_factor = native_to_bqml * frame_factor / suvbw_to_bqml
        prov.parameters["decay_time_min"] = round(decay_s / 60.0, 4)

    if t_ref is not None and t_inj is not None and (t_ref - t_inj) > timedelta(days=30):
        prov.warn(f"reference time is {(t_ref - t_inj).days} days after the injection")
    prov.parameters["suvbw_to_bqml"] = suvbw_to_bqml
    if t_ref is not None:
        prov.parameters["reference_time"] = t_ref.isoformat()
    if hl_source:
        prov.parameters["half_life_s"] = half_life_s
        prov.parameters["half_life_source"] = hl_source
    return _Plan(patient=patient, administration=administration, reference_time=t_ref, units=units,
                 decay_correction=dc, slice_factors=slopes * slice_factor,
                 suvbw_to_bqml=suvbw_to_bqml, provenance=prov)


def _start_reference(items: list[tuple[Path, Dataset]], acq: list[datetime | None],
                     series_dt: datetime | None, earliest_acq: datetime | None, lam: float,
                     d0: Dataset, manufacturer: str, rule: str, prov: Provenance) -> datetime:
    """Decay reference time for DecayCorrection START (SUV.md §1.3)."""
    f0 = items[0][0]

    def back_computed() -> datetime | None:
        refs = []
        for k, (f, ds) in enumerate(items):
            frt = _float_or_none(ds.get("FrameReferenceTime"))
            dur = _float_or_none(ds.get("ActualFrameDuration"))
            if acq[k] is None or frt is None or dur is None or dur <= 0:
                return None
            t_ave = _frame_average_time_s(lam, dur / 1000.0)
            refs.append(acq[k] + timedelta(seconds=t_ave - frt / 1000.0))  # type: ignore[operator]
        spread = (max(refs) - min(refs)).total_seconds()
        if spread > REFERENCE_TIME_SPREAD_S:
            prov.warn(f"back-computed reference times differ by {spread:.0f} s between frames; "
                      "used the earliest frame's")
            return min(refs)
        med = statistics.median(r.timestamp() for r in refs)
        return datetime.fromtimestamp(med)

    def choose(source: str, t: datetime) -> datetime:
        prov.parameters["reference_time_source"] = source
        return t

    if rule == "series":
        if series_dt is None:
            raise InvalidInputError("SeriesDate/SeriesTime missing", where=f"{f0} SeriesTime (0008,0031)")
        return choose("SeriesDate/Time (rule: series)", series_dt)
    if rule == "acquisition":
        if earliest_acq is None:
            raise InvalidInputError("AcquisitionDate/Time missing", where=f"{f0} AcquisitionTime (0008,0032)")
        return choose("earliest AcquisitionDate/Time (rule: acquisition)", earliest_acq)
    if rule == "ibsi-b":
        t = back_computed()
        if t is None:
            raise InvalidInputError(
                "IBSI option B needs AcquisitionTime, FrameReferenceTime and ActualFrameDuration on every slice",
                where=f"{f0} FrameReferenceTime (0054,1300)")
        return choose("back-computed from AcquisitionTime and FrameReferenceTime (IBSI option B)", t)

    # QIBA order (rule "qiba"), with back-computation preferred over the raw acquisition time ("auto")
    if series_dt is not None and (earliest_acq is None or series_dt <= earliest_acq):
        return choose("SeriesDate/Time (not after the earliest acquisition; QIBA step 1)", series_dt)
    ge = get_private(d0, GE_DECAY_DATETIME, "GE", prov)
    if ge:
        t = parse_dt(ge, "GE private (0009,100D)")
        if t is not None:
            return choose("GE private decay-correction DateTime (0009,100D) (QIBA step 2)", t)
    if rule == "auto":
        t = back_computed()
        if t is not None:
            prov.warn("SeriesTime is after AcquisitionTime (post-processed series?): reference time "
                      "back-computed from AcquisitionTime and FrameReferenceTime")
            return choose("back-computed from AcquisitionTime and FrameReferenceTime", t)
    siemens = get_private(d0, SIEMENS_DECAY_DATETIME, "SIEMENS", prov)
    if siemens and (t := parse_dt(siemens, "Siemens private (0071,1022)")) is not None:
        prov.warn("reference time from the Siemens private decay-correction DateTime (0071,1022)")
        return choose("Siemens private decay-correction DateTime (0071,1022)", t)
    if earliest_acq is None:
        raise InvalidInputError("no usable reference time (SeriesTime after AcquisitionTime, none usable)",
                                where=f"{f0} SeriesTime/AcquisitionTime")
    prov.warn("SeriesTime is after AcquisitionTime: used the earliest AcquisitionDate/Time (QIBA step 3); "
              "wrong for multi-injection series")
    return choose("earliest AcquisitionDate/Time (QIBA step 3)", earliest_acq)


# ----------------------------------------------------------------------------------------- loading
def load_pet(path: str | Path, suv: SuvKind = "bw", *, series_uid: str | None = None,
             weight_kg: float | None = None, height_m: float | None = None, sex: str | None = None,
             dose_mbq: float | None = None, injection_time: datetime | None = None,
             reference_time_rule: ReferenceTimeRule = "auto") -> PetVolume:
    """Read a DICOM PET series and convert it to SUV.

    Parameters
    ----------
    path
        Folder (searched recursively) or file list root holding one PET series (other modalities
        are ignored; several PET series need ``series_uid``).
    suv
        ``"bw"`` (body weight), ``"lbm"`` (SUL, Janmahasatian lean body mass), ``"bsa"`` (Du Bois
        body surface area, cm^2/mL) or ``"ibw"`` (ideal body weight).
    weight_kg, height_m, sex, dose_mbq, injection_time
        Overrides for header values (recorded in provenance).
    reference_time_rule
        ``"auto"`` (default): SeriesTime if not after the earliest acquisition, else the GE private
        decay DateTime, else back-computation from AcquisitionTime and FrameReferenceTime (IBSI
        option B), else the earliest AcquisitionTime. ``"qiba"``: QIBA order strictly (acquisition
        time before back-computation). ``"ibsi-b"``: always back-compute. ``"series"`` /
        ``"acquisition"``: force that header time.

    Returns
    -------
    PetVolume
        SUV image, patient, administration, reference time and provenance.

    Raises
    ------
    InvalidInputError
        For every unsafe series (see module docstring), naming the file, the tag and the fix.
    """
    if suv not in SUV_UNITS:
        raise InvalidInputError(f"unknown SUV kind {suv!r}", where="suv", fix="use bw, lbm, bsa or ibw.")
    uid, items, skipped = select_series(path, "PT", series_uid, with_pixels=True, label="PET")
    refuse_multiframe(items[0][1], items[0][0])
    items, spacing, origin, direction = sort_and_check(items)
    prov = Provenance(inputs={"path": str(path), "series_instance_uid": uid, "n_files": len(items)})
    for f, why in skipped:
        prov.warn(f"skipped {f.name}: {why}")
    plan = _plan(items, weight_kg=weight_kg, height_m=height_m, sex=sex, dose_mbq=dose_mbq,
                 injection_time=injection_time, reference_time_rule=reference_time_rule, prov=prov)
    to_kind = _suvbw_to_kind(suv, plan.patient, prov)

    d0 = items[0][1]
    arr = np.empty((len(items), int(d0.Rows), int(d0.Columns)), dtype=np.float32)
    factors = (plan.slice_factors * to_kind).astype(np.float32)
    for k, (f, ds) in enumerate(items):
        try:
            px = ds.pixel_array
        except Exception as exc:  # compressed without a decoder, truncated file, ...
            raise InvalidInputError(f"cannot decode pixel data ({exc})", where=f"{f} PixelData (7FE0,0010)",
                                    fix="install the decoder for this transfer syntax or re-export uncompressed.") from exc
        np.multiply(px, factors[k], out=arr[k], casting="unsafe")
        del px, ds.PixelData  # free the raw bytes and pydicom's decoded cache as we go

    image = Image(array=arr, spacing=spacing, origin=origin, direction=direction, units=SUV_UNITS[suv],
                  frame_of_reference_uid=str(d0.get("FrameOfReferenceUID", "") or "") or None,
                  metadata={"modality": "PT", "series_instance_uid": uid,
                            "study_instance_uid": str(d0.get("StudyInstanceUID", ""))})
    prov.parameters["suv_kind"] = suv
    return PetVolume(image=image, patient=plan.patient, administration=plan.administration,
                     reference_time=plan.reference_time, suv_kind=suv, suvbw_to_bqml=plan.suvbw_to_bqml,
                     suv_to_suvbw=1.0 / to_kind, provenance=prov, series_uid=uid,
                     study_uid=str(d0.get("StudyInstanceUID", "")),
                     info={"manufacturer": str(d0.get("Manufacturer", "") or ""),
                           "units": plan.units, "decay_correction": plan.decay_correction})


def assess_pet_headers(items: list[tuple[Path, Dataset]]) -> tuple[bool, list[str], Provenance]:
    """Check, from headers only, whether a PET series can be converted to SUVbw.

    Returns ``(ready, reasons, provenance)``; ``reasons`` explain a refusal or list warnings.
    """
    prov = Provenance()
    try:
        refuse_multiframe(items[0][1], items[0][0])
        sorted_items, *_ = sort_and_check(items)
        _plan(sorted_items, weight_kg=None, height_m=None, sex=None, dose_mbq=None, injection_time=None,
              reference_time_rule="auto", prov=prov)
    except InvalidInputError as exc:
        return False, [exc.message], prov
    return True, list(prov.warnings), prov
