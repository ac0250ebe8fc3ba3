"""Vendor private tags found through their private creator (never by a fixed element alone)."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.tag import Tag

from theranostix.core.provenance import Provenance

#: (group, private creator, element offset, fixed-tag fallback, what)
GE_DECAY_DATETIME = (0x0009, "GEMS_PETD_01", 0x0D, 0x0009100D, "GE PET scan (decay-correction) DateTime")
GE_ADMIN_DATETIME = (0x0009, "GEMS_PETD_01", 0x3B, 0x0009103B, "GE administration DateTime")
SIEMENS_DECAY_DATETIME = (0x0071, "SIEMENS MED PT", 0x22, 0x00711022, "Siemens decay-correction DateTime")
PHILIPS_SUV_FACTOR = (0x7053, "Philips PET Private Group", 0x00, 0x70531000, "Philips SUV scale factor")
PHILIPS_ACTIVITY_FACTOR = (0x7053, "Philips PET Private Group", 0x09, 0x70531009,
                           "Philips activity-concentration scale factor")


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").strip("\x00 ")
    return str(value).strip()


def get_private(ds: Dataset, spec: tuple, manufacturer_hint: str, prov: Provenance | None) -> str | None:
    """Value of a vendor private element as text, found through its private creator.

    If the private creator is absent but the conventional fixed tag is present *and* the
    Manufacturer matches ``manufacturer_hint``, the value is used and a warning recorded in
    ``prov`` (some anonymisers and synthetic objects drop the creator element).
    """
    group, creator, offset, fixed, what = spec
    try:
        block = ds.private_block(group, creator)
        tag = block.get_tag(offset)
        if tag in ds:
            return _as_text(ds[tag].value)
        return None
    except KeyError:
        pass
    tag = Tag(fixed)
    if tag in ds and manufacturer_hint.lower() in str(ds.get("Manufacturer", "")).lower():
        if prov is not None:
            prov.warn(
                f"{what}: private creator {creator!r} missing; used the conventional tag "
                f"({fixed >> 16:04X},{fixed & 0xFFFF:04X}) because Manufacturer is {manufacturer_hint}"
            )
        return _as_text(ds[tag].value)
    return None
