"""Organ-level (MIRD) absorbed dose from S-value tables.

Table format (``theranostix-s-values/1``)
-----------------------------------------
An :class:`SValueTable` holds, for one nuclide and one phantom, rows of
``source, target, s_mgy_per_mbq_s, target_mass_g`` (+ optional ``sigma_mgy_per_mbq_s`` and
``source_mass_g``) and a ``citation``. It round-trips through JSON/YAML with pydantic
(``SValueTable.model_validate_json``). Importers:

* :func:`s_values_from_opendose` - OpenDose JSON export (a list of
  ``[target, S, sigma(S), target mass g]`` for one source, S in mGy/(MBq·s));
* :func:`s_values_from_csv` - a CSV a user can write from OLINDA or MIRDcalc, with header
  ``source,target,s_mgy_per_mbq_s,target_mass_g`` (or ``s_mgy_per_mbq_h`` instead of
  ``s_mgy_per_mbq_s``; OLINDA prints mSv/MBq-h or mGy/MBq-s) and optional columns
  ``source_mass_g,sigma_mgy_per_mbq_s``. Lines starting with ``#`` are comments.

Dose (MIRD schema, Bolch et al. MIRD Pamphlet 21, J Nucl Med 2009;50:477):
``D(target) = sum_sources TIA(source) x S(target <- source)``, with TIA in MBq·h converted to MBq·s.

Mass scaling to a patient's organ masses (self-irradiation, source = target): the reference S is
split into an electron part ``S_e = Delta_e / m_ref`` (all electron energy per decay from
ICRP-107, :func:`~theranostix.physics.emission_summary`, absorbed in the organ: absorbed
fraction 1, valid for organs of more than a few grams) and a photon part
``S_p = S_ref - S_e``. They scale as ``S_e ~ 1/m`` and ``S_p ~ m^(-2/3)`` (photon absorbed
fraction ~ m^(1/3); Snyder et al. MIRD Pamphlet 11; Stabin, OLINDA/EXM, J Nucl Med
2005;46:1023). Cross-irradiation S values (source != target) are not scaled.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.core.units import KEV_TO_J, SECONDS_PER_HOUR
from theranostix.physics import DECAY_DATA, emission_summary, normalize_nuclide

FORMAT = "theranostix-s-values/1"


class SValueEntry(BaseModel):
    """One S value: mean absorbed dose to ``target`` per decay in ``source``."""

    model_config = ConfigDict(frozen=True)

    source: str
    target: str
    s_mgy_per_mbq_s: float = Field(description="S value in mGy/(MBq·s)")
    target_mass_g: float = Field(description="reference mass of the target region in g")
    source_mass_g: float | None = Field(default=None, description="reference mass of the source region in g")
    sigma_mgy_per_mbq_s: float | None = None

    @field_validator("s_mgy_per_mbq_s")
    @classmethod
    def _s_ok(cls, v: float) -> float:
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"S value must be finite and >= 0, got {v}")
        return v

    @field_validator("target_mass_g", "source_mass_g")
    @classmethod
    def _m_ok(cls, v: float | None) -> float | None:
        if v is not None and (not math.isfinite(v) or v <= 0):
            raise ValueError(f"mass must be positive, got {v}")
        return v


class SValueTable(BaseModel):
    """S values of one nuclide in one phantom, with their source citation."""

    format: str = FORMAT
    nuclide: str
    phantom: str
    citation: str = Field(min_length=1)
    entries: list[SValueEntry]

    @model_validator(mode="after")
    def _check(self) -> "SValueTable":
        self.nuclide = normalize_nuclide(self.nuclide)
        if self.format != FORMAT:
            raise ValueError(f"unknown format {self.format!r}, expected {FORMAT!r}")
        if not self.entries:
            raise ValueError("an S-value table needs at least one entry")
        seen = set()
        for e in self.entries:
            key = (e.source.lower(), e.target.lower())
            if key in seen:
                raise ValueError(f"duplicate S value for {e.target} <- {e.source}")
            seen.add(key)
        return self

    def get(self, source: str, target: str) -> SValueEntry:
        """The entry ``target <- source`` (case-insensitive names)."""
        for e in self.entries:
            if e.source.lower() == source.lower() and e.target.lower() == target.lower():
                return e
        raise InvalidInputError(
            f"no S value for target {target!r} <- source {source!r}", where=f"S-value table ({self.phantom})",
            fix=f"sources in the table: {sorted({e.source for e in self.entries})}",
        )

    @property
    def sources(self) -> list[str]:
        """Source region names."""
        return sorted({e.source for e in self.entries})

    @property
    def targets(self) -> list[str]:
        """Target region names."""
        return sorted({e.target for e in self.entries})

    def merged(self, other: "SValueTable") -> "SValueTable":
        """Union of two tables of the same nuclide and phantom (e.g. one OpenDose file per source)."""
        if other.nuclide != self.nuclide or other.phantom != self.phantom:
            raise InvalidInputError("cannot merge S-value tables of different nuclides or phantoms",
                                    where="SValueTable.merged")
        cites = self.citation if other.citation == self.citation else f"{self.citation}; {other.citation}"
        return _build(self.nuclide, self.phantom, cites, [*self.entries, *other.entries], "merged tables")


def _build(nuclide: str, phantom: str, citation: str, entries: list[Any], where: str) -> SValueTable:
    try:
        return SValueTable(nuclide=nuclide, phantom=phantom, citation=citation, entries=entries)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        raise InvalidInputError(f"invalid S-value table: {first['msg']} (at {loc or 'table'})", where=where) from exc


def s_value_table_from_json(text: str, *, where: str = "S-value table JSON") -> SValueTable:
    """Read a table in the project's own format (``theranostix-s-values/1``) from JSON text.

    Raises
    ------
    InvalidInputError
        When the text is not JSON or not a valid table (unknown format, missing citation, ...).
    """
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not JSON: {exc}", where=where) from exc
    if not isinstance(obj, dict):
        raise InvalidInputError("expected a JSON object with nuclide, phantom, citation, entries", where=where)
    try:
        return SValueTable.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        raise InvalidInputError(f"invalid S-value table: {first['msg']} (at {loc or 'table'})", where=where) from exc
    except InvalidInputError:
        raise


def s_values_from_opendose(
    data: str | list, *, source: str, nuclide: str, phantom: str,
    citation: str = "OpenDose collaboration, ICRP-110 adult voxel phantoms (Chauvin et al., J Nucl Med 2020;61:1514)",
) -> SValueTable:
    """Import one OpenDose JSON export (one source region).

    Parameters
    ----------
    data
        JSON text or the parsed list of ``[target, S, sigma(S), target mass g]`` rows
        (numbers may be strings), S in mGy/(MBq·s).
    source
        Name of the source region of this file (OpenDose exports one source per file).
    nuclide, phantom, citation
        Recorded in the table.
    """
    where = f"OpenDose export (source {source})"
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"not JSON: {exc}", where=where) from exc
    if not isinstance(data, list) or not data:
        raise InvalidInputError("expected a non-empty JSON list of [target, S, sigma, mass] rows", where=where)
    entries = []
    for n, row in enumerate(data):
        if not isinstance(row, (list, tuple)) or len(row) != 4:
            raise InvalidInputError(f"row {n} is not [target, S, sigma, mass]: {row!r}", where=where)
        try:
            entries.append(dict(source=source, target=str(row[0]), s_mgy_per_mbq_s=float(row[1]),
                                sigma_mgy_per_mbq_s=float(row[2]), target_mass_g=float(row[3])))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"row {n} has non-numeric values: {row!r}", where=where) from exc
    return _build(nuclide, phantom, citation, entries, where)


_CSV_REQUIRED = {"source", "target", "target_mass_g"}


def s_values_from_csv(text: str, *, nuclide: str, phantom: str, citation: str) -> SValueTable:
    """Import a CSV of S values (see the module docstring for the columns).

    Raises
    ------
    InvalidInputError
        Missing columns, non-numeric or negative values, duplicate pairs, empty table.
    """
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InvalidInputError("the CSV is empty", where="S-value CSV")
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    cols = {c.strip() for c in (reader.fieldnames or [])}
    missing = _CSV_REQUIRED - cols
    has_s = "s_mgy_per_mbq_s" in cols
    has_h = "s_mgy_per_mbq_h" in cols
    if missing or not (has_s or has_h):
        raise InvalidInputError(
            f"CSV columns {sorted(cols)} lack {sorted(missing) or ['s_mgy_per_mbq_s or s_mgy_per_mbq_h']}",
            where="S-value CSV header",
            fix="use the header source,target,s_mgy_per_mbq_s,target_mass_g[,source_mass_g,sigma_mgy_per_mbq_s]",
        )
    entries = []
    for n, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        try:
            s = float(row["s_mgy_per_mbq_s"]) if has_s else float(row["s_mgy_per_mbq_h"]) / SECONDS_PER_HOUR
            e = dict(source=row["source"], target=row["target"], s_mgy_per_mbq_s=s,
                     target_mass_g=float(row["target_mass_g"]))
            if row.get("source_mass_g"):
                e["source_mass_g"] = float(row["source_mass_g"])
            if row.get("sigma_mgy_per_mbq_s"):
                e["sigma_mgy_per_mbq_s"] = float(row["sigma_mgy_per_mbq_s"])
        except (ValueError, KeyError) as exc:
            raise InvalidInputError(f"line {n}: cannot read a number ({exc})", where="S-value CSV") from exc
        entries.append(e)
    return _build(nuclide, phantom, citation, entries, "S-value CSV")


def electron_self_s_mgy_per_mbq_s(nuclide: str, mass_g: float) -> float:
    """Self S value if all electron energy is absorbed in a region of ``mass_g`` (mGy/(MBq·s))."""
    if not math.isfinite(mass_g) or mass_g <= 0:
        raise InvalidInputError(f"mass must be positive, got {mass_g} g", where="mass_g")
    e_j = emission_summary(nuclide).electrons_kev * KEV_TO_J
    return e_j / (mass_g / 1000.0) * 1e9  # Gy/(Bq s) -> mGy/(MBq s)


def scale_self_s_value(s_ref_mgy_per_mbq_s: float, ref_mass_g: float, patient_mass_g: float,
                       nuclide: str, provenance: Provenance | None = None) -> float:
    """Scale a self S value to a patient's organ mass (electrons ~ 1/m, photons ~ m^(-2/3)).

    The electron part is ``Delta_e / m_ref`` (absorbed fraction 1); the rest is photons. When the
    reference S is below the electron-only value (small organs, electron escape) the photon part
    is set to 0, the whole S is scaled as 1/m and a warning is recorded in ``provenance``.
    """
    if not math.isfinite(s_ref_mgy_per_mbq_s) or s_ref_mgy_per_mbq_s < 0:
        raise InvalidInputError(f"S value must be >= 0, got {s_ref_mgy_per_mbq_s}", where="S value")
    for name, m in (("reference mass", ref_mass_g), ("patient mass", patient_mass_g)):
        if not math.isfinite(m) or m <= 0:
            raise InvalidInputError(f"{name} must be positive, got {m} g", where=name)
    s_e = electron_self_s_mgy_per_mbq_s(nuclide, ref_mass_g)
    s_p = s_ref_mgy_per_mbq_s - s_e
    ratio = ref_mass_g / patient_mass_g
    if s_p < 0:
        if provenance is not None:
            provenance.warn(
                f"reference S {s_ref_mgy_per_mbq_s:.4g} below the electron-only value {s_e:.4g} "
                f"for {ref_mass_g} g: scaled as 1/m"
            )
        return s_ref_mgy_per_mbq_s * ratio
    return s_e * ratio + s_p * ratio ** (2.0 / 3.0)


class OrganDose(BaseModel):
    """Absorbed dose to one target region."""

    target: str
    dose_gy: float
    contributions_gy: dict[str, float]
    s_values_mgy_per_mbq_s: dict[str, float]
    mass_scaled: bool


class OrganDoseResult(BaseModel):
    """Organ absorbed doses from time-integrated activities and an S-value table."""

    nuclide: str
    phantom: str
    doses: list[OrganDose]
    provenance: Provenance

    def dose_gy(self, target: str) -> float:
        """Dose (Gy) to ``target``."""
        for d in self.doses:
            if d.target.lower() == target.lower():
                return d.dose_gy
        raise InvalidInputError(f"no dose for target {target!r}", where="OrganDoseResult")


def organ_absorbed_doses(
    tia_mbq_h: dict[str, float], table: SValueTable, *, targets: list[str] | None = None,
    patient_masses_g: dict[str, float] | None = None,
) -> OrganDoseResult:
    """Mean absorbed doses ``D(t) = sum_s TIA(s) S(t <- s)`` (Gy).

    Parameters
    ----------
    tia_mbq_h
        Time-integrated activity per source region (MBq·h), names as in the table.
    table
        The S-value table.
    targets
        Targets to report (default: every target present for all given sources).
    patient_masses_g
        Patient organ masses (g) by region name; self S values of those regions are mass-scaled
        (:func:`scale_self_s_value`), cross S values are not.
    """
    if not tia_mbq_h:
        raise InvalidInputError("no time-integrated activities given", where="tia_mbq_h")
    for src, a in tia_mbq_h.items():
        if not math.isfinite(a) or a < 0:
            raise InvalidInputError(f"time-integrated activity of {src!r} must be >= 0, got {a}",
                                    where="tia_mbq_h", fix="check the kinetic fit of that region.")
    masses = {k.lower(): v for k, v in (patient_masses_g or {}).items()}
    prov = Provenance(
        inputs={"s_value_table": {"phantom": table.phantom, "citation": table.citation}},
        parameters={"tia_mbq_h": dict(tia_mbq_h), "patient_masses_g": dict(patient_masses_g or {}),
                    "mass_scaling": "electrons 1/m (AF=1), photons m^-2/3; cross S unscaled"},
        decay_data=DECAY_DATA,
    )
    if targets is None:
        per_src = [{e.target for e in table.entries if e.source.lower() == s.lower()} for s in tia_mbq_h]
        targets = sorted(set.intersection(*per_src)) if per_src else []
        if not targets:
            raise InvalidInputError("no target has S values for every given source", where="S-value table")
    doses = []
    for t in targets:
        contrib, svals, scaled = {}, {}, False
        for src, a in tia_mbq_h.items():
            e = table.get(src, t)
            s = e.s_mgy_per_mbq_s
            if src.lower() == t.lower() and t.lower() in masses:
                s = scale_self_s_value(s, e.target_mass_g, masses[t.lower()], table.nuclide, prov)
                scaled = True
            svals[src] = s
            contrib[src] = a * SECONDS_PER_HOUR * s / 1000.0
        doses.append(OrganDose(target=t, dose_gy=sum(contrib.values()), contributions_gy=contrib,
                               s_values_mgy_per_mbq_s=svals, mass_scaled=scaled))
    for name in masses:
        if name not in {t.lower() for t in targets}:
            prov.warn(f"patient mass given for {name!r}, which is not a reported target: unused")
    return OrganDoseResult(nuclide=table.nuclide, phantom=table.phantom, doses=doses, provenance=prov)
