"""Check radiopharmaceutical codes against the DICOM context groups that pydicom ships.

Codes are never invented: a catalogue row may only carry a (value, scheme, meaning) triple that
pydicom's concept dictionary holds, in the context group the row names (CID 25
"Radiopharmaceuticals", CID 4021 "PET Radiopharmaceutical", CID 18 "Isotopes in
Radiopharmaceuticals", CID 4020 "PET Radionuclide").
"""

from __future__ import annotations

from functools import lru_cache

from theranostix.catalog.schema import DicomCode


@lru_cache(maxsize=1)
def _shipped() -> dict[tuple[str, str], dict[str, frozenset[int]]]:
    """(scheme, value) -> {meaning: CIDs}; one code can carry several meanings in pydicom."""
    from pydicom.sr._concepts_dict import concepts

    out: dict[tuple[str, str], dict[str, frozenset[int]]] = {}
    for scheme, by_keyword in concepts.items():
        for codes in by_keyword.values():
            for value, (meaning, cids) in codes.items():
                by_meaning = out.setdefault((scheme, value), {})
                by_meaning[meaning] = by_meaning.get(meaning, frozenset()) | frozenset(cids)
    return out


def pydicom_version() -> str:
    """Version of pydicom whose code dictionaries are used."""
    import pydicom

    return pydicom.__version__


def check_dicom_code(code: DicomCode) -> str | None:
    """Return ``None`` when pydicom ships this code in that CID with that meaning, else why not."""
    entry = _shipped().get((code.scheme, code.value))
    if entry is None:
        return f"code {code.scheme} {code.value} is not in pydicom {pydicom_version()}'s dictionaries"
    if code.meaning not in entry:
        return (f"code {code.scheme} {code.value} means {sorted(entry)!r} in pydicom, "
                f"not {code.meaning!r}")
    cids = entry[code.meaning]
    if code.cid not in cids:
        return f"code {code.scheme} {code.value} is not in CID {code.cid} (pydicom lists {sorted(cids)})"
    return None


def codes_in_cid(cid: int) -> list[DicomCode]:
    """Every concept of one context group as :class:`DicomCode` (e.g. ``codes_in_cid(4021)``)."""
    return [DicomCode(value=v, scheme=s, meaning=m, cid=cid)
            for (s, v), by_meaning in sorted(_shipped().items())
            for m, cids in sorted(by_meaning.items()) if cid in cids]
