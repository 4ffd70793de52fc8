"""Domain errors. Every refusal carries a catalogue key and raw parameters; the edge (a page, the
command line, a document) turns them into the reader's language with ``message(lang)``.

A parameter that is itself text of the catalogue is passed as ``Phrase(key)``, and a stored code as
its enum member (``Role.LEADER``): both are translated with the message, never where it is raised.
"""
from __future__ import annotations

from typing import Any

from dashboard.i18n import Phrase, t

__all__ = ["Phrase"]  # defined with the catalogue; raised errors name it from here


class DomainError(Exception):
    """A rule refused the action. ``message(lang)`` gives the text for the user."""

    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.params = params
        super().__init__(self.message("zh"))

    def message(self, lang: str = "zh") -> str:
        return t(self.key, lang, **self.params)

    @property
    def zh(self) -> str:
        return self.message("zh")

    @property
    def en(self) -> str:
        return self.message("en")


class PermissionDenied(DomainError):
    """The actor's role or unit may not do this."""


class InvalidState(DomainError):
    """The record is not in a state that allows this."""


class ValidationFailed(DomainError):
    """A required field is missing or a value is out of range."""


class NotFound(DomainError):
    """The record does not exist."""


class ConflictError(DomainError):
    """The record was changed by someone else since the actor loaded it.

    ``current`` holds the other person's version of the record, so the page can show it
    next to what the actor typed.
    """

    def __init__(self, key: str = "error.conflict", current: dict[str, Any] | None = None, **params: Any) -> None:
        self.current = current or {}
        super().__init__(key, **params)
