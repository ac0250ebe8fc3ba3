"""Schema of the theranostic catalogue: pydantic models validated when the data files load.

Every row (target, agent, radionuclide, pair, approval) carries a :class:`Source`. Validation
is strict (unknown fields are refused) so a typo in a data file is an error, not a silent gap.
Cross-references between rows (an agent's target, a pair's agents) are checked by
:class:`theranostix.catalog.model.Catalog` once all files are loaded.
"""

from __future__ import annotations

import re
import datetime as _dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from theranostix.physics import emission_summary, normalize_nuclide, radionuclide

Role = Literal["diagnostic", "therapeutic"]
Modality = Literal["PET", "SPECT", "therapy-beta", "therapy-alpha"]
NuclideRole = Literal["PET", "SPECT", "therapy-beta", "therapy-alpha", "therapy-auger"]
DevelopmentStatus = Literal["approved", "investigational", "withdrawn"]
ApprovalStatus = Literal["approved", "withdrawn", "discontinued"]
Agency = Literal["FDA", "EC/EMA", "TGA", "PMDA", "Health Canada", "MHRA", "national (EU)"]
CodingScheme = Literal["SCT", "DCM", "NCIt", "UMLS", "MSH"]

_DIAGNOSTIC_MODALITIES = {"PET", "SPECT"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Source(_Strict):
    """Where a row's facts come from.

    Attributes
    ----------
    citation
        Human-readable reference (authors, journal year;volume:pages, or agency/label title).
    doi, pmid, url
        Identifiers when known.
    checked
        ``True`` only when the row's key fact (e.g. an approval date) was confirmed against a
        retrieved copy of this source when the row was written; ``False`` means the citation
        is given from the curator's knowledge and still needs a look.
    """

    citation: str = Field(min_length=3)
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None
    checked: bool = False

    @field_validator("doi")
    @classmethod
    def _doi_form(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"10\.\d{4,9}/\S+", v):
            raise ValueError(f"{v!r} is not a DOI (expected 10.NNNN/...)")
        return v

    @field_validator("pmid")
    @classmethod
    def _pmid_form(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d{1,9}", v):
            raise ValueError(f"{v!r} is not a PubMed ID (digits only)")
        return v


class DicomCode(_Strict):
    """A coded concept exactly as pydicom ships it (value, scheme designator, meaning, CID)."""

    value: str = Field(min_length=1)
    scheme: CodingScheme
    meaning: str = Field(min_length=1)
    cid: int = Field(description="DICOM context group the concept is taken from (e.g. 25, 4021).")


class Approval(_Strict):
    """One regulatory decision for one product containing the agent.

    ``date`` is ``None`` when it could not be verified against a citable source; ``date_note``
    then says so (it must contain the word ``unverified``).
    """

    agency: Agency
    region: str = Field(min_length=2)
    product: str = Field(min_length=1)
    status: ApprovalStatus = "approved"
    date: _dt.date | None = None
    date_note: str | None = None
    source: Source

    @model_validator(mode="after")
    def _date_or_note(self) -> Approval:
        if self.date is None and not (self.date_note and "unverified" in self.date_note.lower()):
            raise ValueError("an approval without a date needs date_note saying 'unverified ...'")
        return self


class Target(_Strict):
    """A molecular target (gene product) of theranostic or molecular-imaging agents."""

    symbol: str = Field(pattern=r"^[A-Z][A-Z0-9-]*$", description="HGNC-approved gene symbol.")
    hgnc_id: str | None = Field(default=None, pattern=r"^HGNC:\d+$")
    name: str = Field(min_length=2)
    aliases: tuple[str, ...] = ()
    target_class: str = Field(min_length=2)
    indications: tuple[str, ...] = Field(min_length=1)
    note: str | None = None
    source: Source


class Agent(_Strict):
    """A radiopharmaceutical (one ligand labelled with one radionuclide)."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Stable lower-case key.")
    name: str = Field(min_length=2, description="Radiopharmaceutical name, e.g. [177Lu]Lu-PSMA-617.")
    aliases: tuple[str, ...] = ()
    ligand: str = Field(min_length=1)
    radionuclide: str
    target: str | None = Field(default=None, description="Primary target gene symbol, if any.")
    secondary_targets: tuple[str, ...] = ()
    mechanism: str | None = Field(default=None, description="Uptake mechanism when not a target.")
    role: Role
    modality: Modality
    status: DevelopmentStatus
    approvals: tuple[Approval, ...] = ()
    dicom_code: DicomCode | None = None
    note: str | None = None
    source: Source

    @field_validator("radionuclide")
    @classmethod
    def _nuclide(cls, v: str) -> str:
        return normalize_nuclide(v)  # InvalidInputError is a ValueError -> validation error

    @model_validator(mode="after")
    def _consistent(self) -> Agent:
        diagnostic_modality = self.modality in _DIAGNOSTIC_MODALITIES
        if (self.role == "diagnostic") != diagnostic_modality:
            raise ValueError(f"role {self.role!r} does not fit modality {self.modality!r}")
        if self.target is None and not self.mechanism:
            raise ValueError("an agent without a target needs a mechanism")
        if self.status == "approved" and not any(a.status == "approved" for a in self.approvals):
            raise ValueError("status 'approved' needs at least one approval with status 'approved'")
        return self

    @property
    def is_approved(self) -> bool:
        """True when at least one regulator approved a product containing the agent."""
        return self.status == "approved"


class RadionuclideEntry(_Strict):
    """A radionuclide used in theranostics, with physics derived from ICRP-107.

    ``half_life_h`` and the per-decay energies are computed from :mod:`theranostix.physics`
    when the entry is built (any value given is overwritten); the loader refuses them in the
    data files.
    """

    nuclide: str
    roles: tuple[NuclideRole, ...] = Field(min_length=1)
    production: str = Field(min_length=3)
    dicom_code: DicomCode | None = None
    note: str | None = None
    source: Source
    half_life_h: float = 0.0
    electrons_kev: float = 0.0
    photons_kev: float = 0.0
    alpha_kev: float = 0.0
    positron_yield: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _derive_physics(cls, data: dict) -> dict:
        if not isinstance(data, dict) or "nuclide" not in data:
            return data
        data = dict(data)
        name = normalize_nuclide(str(data["nuclide"]))
        em = emission_summary(name)
        data.update(
            nuclide=name, half_life_h=radionuclide(name).half_life_h,
            electrons_kev=em.electrons_kev, photons_kev=em.photons_kev,
            alpha_kev=em.alpha_kev, positron_yield=em.positron_yield,
        )
        return data


class TheranosticPair(_Strict):
    """Diagnostic agent(s) selecting patients for therapeutic agent(s) against one target."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    target: str
    diagnostic: tuple[str, ...] = Field(min_length=1, description="Agent keys.")
    therapeutic: tuple[str, ...] = Field(min_length=1, description="Agent keys.")
    evidence: str = Field(min_length=3, description="Level of evidence, e.g. 'phase 3 (VISION)'.")
    source: Source
