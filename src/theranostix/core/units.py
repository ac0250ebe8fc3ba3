"""Unit names used for images and a few exact conversion constants.

Image units are short strings so that they survive JSON and NIfTI sidecars unchanged.
"""

from __future__ import annotations

BQML = "Bq/mL"  #: activity concentration
SUV_BW = "SUVbw"  #: g/mL, body-weight normalised
SUV_LBM = "SUVlbm"  #: g/mL, lean-body-mass normalised (SUL); the LBM formula is in provenance
SUV_BSA = "SUVbsa"  #: cm2/mL, body-surface-area normalised
SUV_IBW = "SUVibw"  #: g/mL, ideal-body-weight normalised
HU = "HU"  #: Hounsfield units
COUNTS = "counts"  #: detected counts per voxel (raw NM/SPECT)
GY = "Gy"  #: absorbed dose
LABEL = "label"  #: integer label map
UNITLESS = "1"

SUV_UNITS = (SUV_BW, SUV_LBM, SUV_BSA, SUV_IBW)

#: UCUM codes used in DICOM for each SUV kind (DICOM PS3.16, CID 85).
UCUM = {
    SUV_BW: "{SUVbw}g/ml",
    SUV_LBM: "{SUVlbm}g/ml",
    SUV_BSA: "{SUVbsa}cm2/ml",
    SUV_IBW: "{SUVibw}g/ml",
    BQML: "Bq/ml",
    HU: "[hnsf'U]",
    GY: "Gy",
}

MEV_TO_J = 1.602176634e-13  #: joule per MeV (exact, SI 2019)
KEV_TO_J = 1.602176634e-16  #: joule per keV (exact)
SECONDS_PER_HOUR = 3600.0
