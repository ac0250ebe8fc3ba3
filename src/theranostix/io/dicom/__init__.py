"""DICOM input: series discovery and quantitative loaders (PET SUV, CT HU, SPECT Bq/mL)."""

from theranostix.io.dicom.ct import load_ct
from theranostix.io.dicom.discover import SeriesInfo, discover
from theranostix.io.dicom.nm import SpectVolume, load_spect
from theranostix.io.dicom.pet import PetVolume, load_pet

__all__ = ["PetVolume", "SeriesInfo", "SpectVolume", "discover", "load_ct", "load_pet", "load_spect"]
