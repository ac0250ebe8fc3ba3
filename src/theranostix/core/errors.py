"""The single error hierarchy of theranostix.

Every error the package raises on purpose derives from :class:`TheranostixError`. Errors caused by
the user's input (a bad file, a missing DICOM tag, an impossible parameter) are
:class:`InvalidInputError`: they say *what* is wrong, *where* (file, DICOM tag, field) and *how to
fix it*. The CLI maps ``InvalidInputError`` to exit code 2 and anything else to exit code 1.
"""

from __future__ import annotations

from pathlib import Path


class TheranostixError(Exception):
    """Base class of every error raised on purpose by theranostix."""


class InvalidInputError(TheranostixError, ValueError):
    """The input cannot be used safely.

    Parameters
    ----------
    what
        What is wrong, in one sentence.
    where
        The file, folder, DICOM tag or field concerned (optional but strongly encouraged).
    fix
        How the user can fix it (optional).
    """

    def __init__(self, what: str, *, where: str | Path | None = None, fix: str | None = None):
        self.what = what
        self.where = None if where is None else str(where)
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = self.what
        if self.where:
            text = f"{self.where}: {text}"
        if self.fix:
            text = f"{text} Fix: {self.fix}"
        return text


class UnsupportedInputError(InvalidInputError):
    """Input that is valid DICOM/NIfTI but that theranostix deliberately does not handle."""


class QuantitationError(InvalidInputError):
    """An image cannot be converted to the requested physical quantity (SUV, Bq/mL, ...)."""


class ComputationError(TheranostixError):
    """An analysis could not produce a trustworthy result (e.g. a fit did not converge)."""


def invalid_input_from_validation(exc: Exception, what: str, *, where: str | Path | None = None,
                                  fix: str | None = None) -> InvalidInputError:
    """An :class:`InvalidInputError` naming the first problem of a pydantic ``ValidationError``.

    Message: ``"invalid <what>: <message> (at <field path>)"`` (``top`` for the document itself).
    """
    errors = exc.errors() if hasattr(exc, "errors") else []
    first = errors[0] if errors else {"msg": str(exc), "loc": ()}
    loc = ".".join(str(x) for x in first.get("loc", ()))
    return InvalidInputError(f"invalid {what}: {first['msg']} (at {loc or 'top'})", where=where, fix=fix)
