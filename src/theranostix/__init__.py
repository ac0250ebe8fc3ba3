"""theranostix: an open platform for precision theranostics.

From a molecular image (PET, SPECT) to a personalised radioligand therapy: quantitative reading,
lesion analysis, dosimetry, planning and response assessment. See ``docs/`` for the methods.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("theranostix")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
