"""Response criteria engines, one import point.

Each engine is a pure function on typed inputs returning a
:class:`~theranostix.pet.scores.CriterionResult` (category, every reason, flags, provenance):

* :func:`recip` -- RECIP 1.0 (PSMA total tumour volume + new lesions), :mod:`.recip`.
* :func:`ppp` -- PSMA PET Progression, :mod:`.ppp`.
* :func:`percist` -- PERCIST 1.0 with comparability checks, :mod:`.percist`.
* :func:`lugano_response` -- Deauville/Lugano metabolic response, :mod:`.deauville`
  (single-scan :func:`deauville_score` and :func:`qpet` live in :mod:`theranostix.pet.scores`).
* :func:`krenning_change` -- Krenning-type SSTR grade change, :mod:`.sstr`.
"""

from __future__ import annotations

from theranostix.pet.scores import CriterionResult, Reason, deauville_score, qpet
from theranostix.response.deauville import lugano_response
from theranostix.response.percist import PercistScan, percist
from theranostix.response.ppp import ExistingLesionChange, PppInput, ppp
from theranostix.response.recip import recip
from theranostix.response.sstr import krenning_change

__all__ = [
    "CriterionResult", "ExistingLesionChange", "PercistScan", "PppInput", "Reason",
    "deauville_score", "krenning_change", "lugano_response", "percist", "ppp", "qpet", "recip",
]
