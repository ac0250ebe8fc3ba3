"""PROMISE molecular-imaging TNM (miTNM) staging from lesion sites, with reasons.

Definitions: PROMISE V1 (Eiber et al., JNM 2018;59:469) and PROMISE V2 (Seifert et al., Eur Urol
2023;83:405); ``shared/reference/pet/CRITERIA.md`` §3.5 marks the codes [M] (verify against the
primary tables). Summary of what is encoded:

* **miT** -- miT0 no local tumour; miT2u / miT2m organ-confined unifocal / multifocal; miT3a
  extraprostatic extension; miT3b seminal-vesicle invasion; miT4 invasion of adjacent structures
  (external sphincter, rectum, bladder, levator, pelvic wall); miTr local recurrence after
  radical prostatectomy.
* **miN** (regional pelvic nodes) -- miN0 none; V2: miN1 a single region, miN2 >= 2 regions;
  V1: miN1a / miN1b. A region is a node station of :data:`REGIONAL_PELVIC_STATIONS`; left and
  right count as separate regions unless ``count_laterality_separately=False``.
* **miM** -- M1a extrapelvic nodes (:data:`EXTRAPELVIC_STATIONS`); M1b bone with pattern uni (1
  lesion), oligo (<= ``oligo_max_bone_lesions`` = 3 [M]), diss (more), dmi (diffuse marrow
  involvement); M1c other organs. Several may co-occur: ``miM1a,b(oligo),c``.

Common-iliac nodes are regional (miN) in PROMISE but distant (M1a) in AJCC 8th edition; the
option ``common_iliac_regional`` (default ``True``, PROMISE) chooses.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.pet.scores import CriterionResult, Reason

# ------------------------------------------------------------------------------------------
# Node stations
# ------------------------------------------------------------------------------------------
INTERNAL_ILIAC_LEFT = "internal_iliac_left"
INTERNAL_ILIAC_RIGHT = "internal_iliac_right"
EXTERNAL_ILIAC_LEFT = "external_iliac_left"
EXTERNAL_ILIAC_RIGHT = "external_iliac_right"
OBTURATOR_LEFT = "obturator_left"
OBTURATOR_RIGHT = "obturator_right"
PRESACRAL = "presacral"
OTHER_PELVIC = "other_pelvic"  # e.g. perirectal / mesorectal
COMMON_ILIAC_LEFT = "common_iliac_left"
COMMON_ILIAC_RIGHT = "common_iliac_right"
RETROPERITONEAL = "retroperitoneal"
INGUINAL_LEFT = "inguinal_left"
INGUINAL_RIGHT = "inguinal_right"
MEDIASTINAL = "mediastinal"
SUPRACLAVICULAR_LEFT = "supraclavicular_left"
SUPRACLAVICULAR_RIGHT = "supraclavicular_right"
AXILLARY_LEFT = "axillary_left"
AXILLARY_RIGHT = "axillary_right"
CERVICAL_LEFT = "cervical_left"
CERVICAL_RIGHT = "cervical_right"
HILAR = "hilar"
OTHER_SUPRADIAPHRAGMATIC = "other_supradiaphragmatic"
OTHER_EXTRAPELVIC = "other_extrapelvic"

REGIONAL_PELVIC_STATIONS: tuple[str, ...] = (
    INTERNAL_ILIAC_LEFT, INTERNAL_ILIAC_RIGHT, EXTERNAL_ILIAC_LEFT, EXTERNAL_ILIAC_RIGHT,
    OBTURATOR_LEFT, OBTURATOR_RIGHT, PRESACRAL, OTHER_PELVIC,
)
"""Regional (miN) stations in every version."""

COMMON_ILIAC_STATIONS: tuple[str, ...] = (COMMON_ILIAC_LEFT, COMMON_ILIAC_RIGHT)
"""Regional in PROMISE (default), distant M1a in AJCC 8th (``common_iliac_regional=False``)."""

EXTRAPELVIC_STATIONS: tuple[str, ...] = (
    RETROPERITONEAL, INGUINAL_LEFT, INGUINAL_RIGHT, MEDIASTINAL, SUPRACLAVICULAR_LEFT,
    SUPRACLAVICULAR_RIGHT, AXILLARY_LEFT, AXILLARY_RIGHT, CERVICAL_LEFT, CERVICAL_RIGHT, HILAR,
    OTHER_SUPRADIAPHRAGMATIC, OTHER_EXTRAPELVIC,
)
"""Extrapelvic (M1a) stations: retroperitoneal, inguinal, supradiaphragmatic, other."""

ALL_STATIONS: tuple[str, ...] = REGIONAL_PELVIC_STATIONS + COMMON_ILIAC_STATIONS + EXTRAPELVIC_STATIONS

LocalExtent = Literal["organ_confined", "extraprostatic", "seminal_vesicle", "adjacent_structure"]
_EXTENT_ORDER = {"organ_confined": 0, "extraprostatic": 1, "seminal_vesicle": 2,
                 "adjacent_structure": 3}
_LOCAL_ORGAN_NAMES = {"prostate", "prostate_bed", "seminal_vesicle", "bladder", "rectum",
                      "external_sphincter", "levator", "pelvic_wall"}


def station_without_laterality(station: str) -> str:
    """``"obturator_left"`` -> ``"obturator"``; names without a side are returned unchanged."""
    return re.sub(r"_(left|right)$", "", station)


def normalise_station(name: str) -> str:
    """Lower-case a station name and turn spaces/hyphens into underscores."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def is_regional_station(station: str, *, common_iliac_regional: bool = True) -> bool:
    """True if ``station`` is a regional pelvic (miN) station.

    Raises
    ------
    InvalidInputError
        Unknown station name.
    """
    s = normalise_station(station)
    if s not in ALL_STATIONS:
        raise InvalidInputError(f"unknown lymph-node station {station!r}", where="station",
                                fix="use one of: " + ", ".join(ALL_STATIONS))
    if s in COMMON_ILIAC_STATIONS:
        return common_iliac_regional
    return s in REGIONAL_PELVIC_STATIONS


# ------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------
class LesionSite(BaseModel):
    """One PSMA-positive finding (or a group of identical ones) for staging.

    Attributes
    ----------
    kind
        ``"local"`` (prostate or prostate bed), ``"lymph_node"``, ``"bone"`` or ``"organ"``
        (visceral: lung, liver, brain, adrenal, ...).
    station
        Node station for ``lymph_node`` (one of :data:`ALL_STATIONS`).
    organ
        Organ name for ``organ`` lesions (free text, e.g. ``"lung"``).
    extent
        Local extent for ``local`` lesions: ``organ_confined`` (default), ``extraprostatic``,
        ``seminal_vesicle``, ``adjacent_structure``.
    count
        Number of lesions this record stands for (>= 1).
    diffuse_marrow
        Bone record represents diffuse marrow involvement (pattern dmi).
    """

    kind: Literal["local", "lymph_node", "bone", "organ"]
    station: str | None = None
    organ: str | None = None
    extent: LocalExtent | None = None
    count: int = 1
    diffuse_marrow: bool = False


class StagingInput(BaseModel):
    """All findings of one scan and the clinical context needed for miT.

    Attributes
    ----------
    lesions
        The PSMA-positive findings.
    prior_prostatectomy
        Radical prostatectomy done: local findings are local recurrence (miTr).
    """

    lesions: list[LesionSite] = Field(default_factory=list)
    prior_prostatectomy: bool = False


class StagingResult(CriterionResult):
    """miTNM with its parts; ``category`` is the full string, e.g. ``"miT2u miN1 miM1b(uni)"``."""

    mi_t: str = "miT0"
    mi_n: str = "miN0"
    mi_m: str = "miM0"
    m_categories: list[str] = Field(default_factory=list)
    bone_pattern: str | None = None
    regional_stations: list[str] = Field(default_factory=list)
    extrapelvic_stations: list[str] = Field(default_factory=list)
    visceral_organs: list[str] = Field(default_factory=list)


def _validate(lesion: LesionSite, i: int) -> None:
    where = f"lesions[{i}]"
    if lesion.count < 1:
        raise InvalidInputError(f"count {lesion.count} < 1", where=f"{where}.count",
                                fix="give the number of lesions (>= 1) or leave the record out")
    if lesion.kind == "lymph_node" and not lesion.station:
        raise InvalidInputError("lymph-node lesion without station", where=f"{where}.station",
                                fix="give one of: " + ", ".join(ALL_STATIONS))
    if lesion.kind == "organ":
        if not lesion.organ:
            raise InvalidInputError("organ lesion without organ name", where=f"{where}.organ",
                                    fix="give the organ, e.g. lung or liver")
        if normalise_station(lesion.organ) in _LOCAL_ORGAN_NAMES:
            raise InvalidInputError(
                f"organ {lesion.organ!r} is local disease, not a visceral metastasis",
                where=f"{where}.organ",
                fix="use kind='local' with extent (seminal_vesicle / adjacent_structure)")
    if lesion.extent is not None and lesion.kind != "local":
        raise InvalidInputError("extent is only meaningful for local lesions",
                                where=f"{where}.extent")
    if lesion.diffuse_marrow and lesion.kind != "bone":
        raise InvalidInputError("diffuse_marrow is only meaningful for bone",
                                where=f"{where}.diffuse_marrow")


def promise_mitnm(
    staging: StagingInput,
    *,
    version: Literal["v1", "v2"] = "v2",
    common_iliac_regional: bool = True,
    count_laterality_separately: bool = True,
    oligo_max_bone_lesions: int = 3,
) -> StagingResult:
    """PROMISE miTNM stage from a list of lesion sites.

    Parameters
    ----------
    staging
        Lesion sites and ``prior_prostatectomy``.
    version
        ``"v2"`` (Seifert 2023: miN1 single region / miN2 multiple) or ``"v1"`` (Eiber 2018:
        miN1a / miN1b).
    common_iliac_regional
        Common-iliac nodes count as regional (PROMISE, default) or as M1a (AJCC 8th).
    count_laterality_separately
        Left and right of a station are separate regions (default) for the N1/N2 count.
    oligo_max_bone_lesions
        Largest bone-lesion count called "oligo" (default 3 [M]); 1 is "uni", more is "diss".

    Returns
    -------
    StagingResult
        ``category`` e.g. ``"miT3b miN2 miM1a,b(oligo)"`` and ``mi_t``, ``mi_n``, ``mi_m``,
        with one reason per component (``miT``, ``miN``, ``miM1a``, ``miM1b``, ``miM1c``).

    Raises
    ------
    InvalidInputError
        Unknown station, count < 1, organ lesions naming a local structure, unknown version.
    """
    if version not in ("v1", "v2"):
        raise InvalidInputError(f"unknown PROMISE version {version!r}", where="version",
                                fix="use v1 or v2")
    if oligo_max_bone_lesions < 1:
        raise InvalidInputError("oligo_max_bone_lesions must be >= 1",
                                where="oligo_max_bone_lesions")
    for i, les in enumerate(staging.lesions):
        _validate(les, i)
    prov = Provenance(parameters={"version": version, "common_iliac_regional": common_iliac_regional,
                                  "count_laterality_separately": count_laterality_separately,
                                  "oligo_max_bone_lesions": oligo_max_bone_lesions,
                                  "prior_prostatectomy": staging.prior_prostatectomy})
    reasons: list[Reason] = []

    # ---- miT
    local = [le for le in staging.lesions if le.kind == "local"]
    n_local = sum(le.count for le in local)
    if not local:
        mi_t = "miT0"
        t_text = "No local (prostate / prostate-bed) lesion -> miT0"
    elif staging.prior_prostatectomy:
        mi_t = "miTr"
        t_text = f"{n_local} local lesion(s) after radical prostatectomy -> miTr (local recurrence)"
    else:
        worst = max((le.extent or "organ_confined" for le in local), key=_EXTENT_ORDER.__getitem__)
        if worst == "adjacent_structure":
            mi_t, t_text = "miT4", "Invasion of adjacent structures other than seminal vesicles -> miT4"
        elif worst == "seminal_vesicle":
            mi_t, t_text = "miT3b", "Seminal-vesicle invasion -> miT3b"
        elif worst == "extraprostatic":
            mi_t, t_text = "miT3a", "Extraprostatic extension -> miT3a"
        elif n_local == 1:
            mi_t, t_text = "miT2u", "One organ-confined focus -> miT2u"
        else:
            mi_t, t_text = "miT2m", f"{n_local} organ-confined foci -> miT2m"
    reasons.append(Reason(rule="miT", text=t_text, met=bool(local),
                          values={"local_lesions": n_local,
                                  "prior_prostatectomy": staging.prior_prostatectomy}))

    # ---- nodes
    regional: dict[str, int] = {}
    extrapelvic: dict[str, int] = {}
    for le in staging.lesions:
        if le.kind != "lymph_node":
            continue
        s = normalise_station(le.station or "")
        if is_regional_station(s, common_iliac_regional=common_iliac_regional):
            regional[s] = regional.get(s, 0) + le.count
        else:
            extrapelvic[s] = extrapelvic.get(s, 0) + le.count
    regions = set(regional) if count_laterality_separately else {
        station_without_laterality(s) for s in regional}
    n_regions = len(regions)
    if n_regions == 0:
        mi_n = "miN0"
    elif n_regions == 1:
        mi_n = "miN1" if version == "v2" else "miN1a"
    else:
        mi_n = "miN2" if version == "v2" else "miN1b"
    ci_note = ("common iliac counted as regional (PROMISE)" if common_iliac_regional
               else "common iliac counted as M1a (AJCC)")
    reasons.append(Reason(
        rule="miN",
        text=(f"{sum(regional.values())} regional pelvic node(s) in {n_regions} region(s)"
              f" {sorted(regions)} -> {mi_n}; {ci_note}"),
        met=n_regions > 0, values={"regional_node_lesions": sum(regional.values()),
                                   "regions": sorted(regions)},
        thresholds={"multiple_regions": 2},
        option=(f"version={version}, common_iliac_regional={common_iliac_regional}, "
                f"count_laterality_separately={count_laterality_separately}")))

    # ---- miM
    m_cats: list[str] = []
    m_parts: list[str] = []
    n_extra = sum(extrapelvic.values())
    reasons.append(Reason(rule="miM1a",
                          text=(f"{n_extra} extrapelvic node(s) at {sorted(extrapelvic)} -> M1a"
                                if n_extra else "No extrapelvic nodes"),
                          met=n_extra > 0, values={"extrapelvic_node_lesions": n_extra,
                                                   "stations": sorted(extrapelvic)}))
    if n_extra:
        m_cats.append("M1a")
        m_parts.append("a")
    bone = [le for le in staging.lesions if le.kind == "bone"]
    n_bone = sum(le.count for le in bone)
    dmi = any(le.diffuse_marrow for le in bone)
    pattern = None
    if bone:
        if dmi:
            pattern = "dmi"
        elif n_bone == 1:
            pattern = "uni"
        elif n_bone <= oligo_max_bone_lesions:
            pattern = "oligo"
        else:
            pattern = "diss"
        m_cats.append("M1b")
        m_parts.append(f"b({pattern})")
    reasons.append(Reason(
        rule="miM1b",
        text=(f"{n_bone} bone lesion(s){' with diffuse marrow involvement' if dmi else ''} -> "
              f"M1b({pattern}) (uni = 1, oligo <= {oligo_max_bone_lesions}, diss > "
              f"{oligo_max_bone_lesions}, dmi = diffuse marrow)" if bone else "No bone lesions"),
        met=bool(bone), values={"bone_lesions": n_bone, "diffuse_marrow": dmi, "pattern": pattern},
        thresholds={"uni": 1, "oligo_max_bone_lesions": oligo_max_bone_lesions},
        option=f"oligo_max_bone_lesions={oligo_max_bone_lesions}"))
    organs = sorted({(le.organ or "").strip().lower() for le in staging.lesions if le.kind == "organ"})
    n_org = sum(le.count for le in staging.lesions if le.kind == "organ")
    reasons.append(Reason(rule="miM1c",
                          text=(f"{n_org} visceral lesion(s) in {organs} -> M1c" if organs
                                else "No visceral (organ) lesions"),
                          met=bool(organs), values={"visceral_lesions": n_org, "organs": organs}))
    if organs:
        m_cats.append("M1c")
        m_parts.append("c")
    mi_m = "miM0" if not m_cats else "miM1" + ",".join(m_parts)
    category = f"{mi_t} {mi_n} {mi_m}"
    return StagingResult(
        criterion=f"PROMISE {version.upper()} miTNM", category=category, reasons=reasons,
        provenance=prov, mi_t=mi_t, mi_n=mi_n, mi_m=mi_m, m_categories=m_cats,
        bone_pattern=pattern, regional_stations=sorted(regional),
        extrapelvic_stations=sorted(extrapelvic), visceral_organs=organs,
        values={"local_lesions": n_local, "regional_node_lesions": sum(regional.values()),
                "extrapelvic_node_lesions": n_extra, "bone_lesions": n_bone,
                "visceral_lesions": n_org})


# ------------------------------------------------------------------------------------------
# From detected-lesion site names
# ------------------------------------------------------------------------------------------
BONE_SITE_NAMES: frozenset[str] = frozenset({
    "bone", "skeleton", "vertebra", "spine", "rib", "pelvis_bone", "sacrum", "femur", "humerus",
    "skull", "sternum", "scapula", "clavicle", "hip",
})
"""Site names read as bone (plus any name starting with ``bone_`` or ``vertebra``)."""

LOCAL_SITE_EXTENT: dict[str, LocalExtent] = {
    "prostate": "organ_confined", "prostate_bed": "organ_confined",
    "seminal_vesicle": "seminal_vesicle", "seminal_vesicles": "seminal_vesicle",
}
"""Site names read as local disease, with the extent they imply."""

UNUSABLE_SITE_NAMES: frozenset[str] = frozenset({"unassigned", "unknown", "lymph_node", "node", ""})
"""Site names that cannot be staged (no station/organ): returned as skipped."""


def staging_input_from_sites(
    sites: list[str],
    *,
    prior_prostatectomy: bool = False,
) -> tuple[StagingInput, list[str]]:
    """Turn the site names of detected lesions (one per lesion) into a :class:`StagingInput`.

    Mapping: a name of :data:`ALL_STATIONS` -> lymph node at that station; a bone name
    (:data:`BONE_SITE_NAMES`, ``bone_*``, ``vertebra*``) -> bone; ``prostate`` /
    ``prostate_bed`` / ``seminal_vesicle`` -> local; any other organ name -> visceral (M1c).
    Names that cannot be staged (:data:`UNUSABLE_SITE_NAMES`) are returned in the second
    element so the caller records them as a warning -- they are never silently dropped.

    Returns
    -------
    (StagingInput, skipped)
        The staging input (identical sites merged with a count) and the skipped names.
    """
    counts: dict[tuple[str, str], int] = {}
    skipped: list[str] = []
    for raw in sites:
        name = normalise_station(str(raw))
        if name in UNUSABLE_SITE_NAMES:
            skipped.append(str(raw))
            continue
        if name in ALL_STATIONS:
            key = ("lymph_node", name)
        elif name in BONE_SITE_NAMES or name.startswith(("bone_", "vertebra")):
            key = ("bone", "bone")
        elif name in LOCAL_SITE_EXTENT:
            key = ("local", LOCAL_SITE_EXTENT[name])
        elif name in _LOCAL_ORGAN_NAMES:
            key = ("local", "adjacent_structure")
        else:
            key = ("organ", name)
        counts[key] = counts.get(key, 0) + 1
    lesions = []
    for (kind, what), n in sorted(counts.items()):
        if kind == "lymph_node":
            lesions.append(LesionSite(kind="lymph_node", station=what, count=n))
        elif kind == "bone":
            lesions.append(LesionSite(kind="bone", count=n))
        elif kind == "local":
            lesions.append(LesionSite(kind="local", extent=what, count=n))  # type: ignore[arg-type]
        else:
            lesions.append(LesionSite(kind="organ", organ=what, count=n))
    return StagingInput(lesions=lesions, prior_prostatectomy=prior_prostatectomy), skipped


__all__ = [
    "ALL_STATIONS", "COMMON_ILIAC_STATIONS", "EXTRAPELVIC_STATIONS", "LesionSite",
    "REGIONAL_PELVIC_STATIONS", "StagingInput", "StagingResult", "is_regional_station",
    "normalise_station", "promise_mitnm", "station_without_laterality",
    "staging_input_from_sites", "BONE_SITE_NAMES", "LOCAL_SITE_EXTENT", "UNUSABLE_SITE_NAMES",
] + [n for n in dir() if n.isupper() and n.endswith(("_LEFT", "_RIGHT"))] + [
    "PRESACRAL", "OTHER_PELVIC", "RETROPERITONEAL", "MEDIASTINAL", "HILAR",
    "OTHER_SUPRADIAPHRAGMATIC", "OTHER_EXTRAPELVIC",
]
