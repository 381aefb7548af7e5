"""The base of every field: where it sits in the payload, how it is labelled and named."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .paths import MISSING, Path, Segment, key_of
from .reader import FormValues, Reader, first


@dataclass(frozen=True, eq=False, kw_only=True)
class Field(ABC):
    """One input, or one group of inputs, bound to one place in the payload.

    ``decode`` reads the posted values into JSON (``MISSING`` for a field left empty,
    problems go to ``reader.errors``); ``encode`` writes what a browser would post for a
    value, returning False when the field cannot express it.
    """

    kind: ClassVar[str] = ""
    schema: Mapping[str, Any]
    path: Path
    name: str
    id: str
    label: str
    required: bool = False  # the payload needs a value here
    html_required: bool = False  # ... and nothing optional above it: the browser may insist
    description: str | None = None
    hints: tuple[str, ...] = ()
    read_only: bool = False
    default: Any = MISSING
    nullable: bool = False
    placeholder: str | None = None

    @property
    def key(self) -> str:
        """The error key of this field (``items/0/price``)."""
        return key_of(self.path)

    @property
    def prop(self) -> Segment:
        """The property name (or row index) under which the parent holds this field."""
        return self.path[-1] if self.path else ""

    @property
    def marked(self) -> bool:
        """Whether the label shows the required marker (a row is there because it was added)."""
        return self.required and not (self.path and isinstance(self.path[-1], int))

    @property
    def help_id(self) -> str:
        return f"{self.id}--help"

    @property
    def error_id(self) -> str:
        return f"{self.id}--error"

    @property
    def has_help(self) -> bool:
        return bool(self.description or self.hints)

    def empty(self) -> Any:
        """What an input left empty means: null where the schema allows it, else absent."""
        return None if self.nullable else MISSING

    def decode(self, reader: Reader) -> Any:
        """The JSON value posted for this field; a read-only field keeps its default."""
        if self.read_only:
            return self.default
        return self._decode(reader)

    @abstractmethod
    def _decode(self, reader: Reader) -> Any:
        """Each kind of field reads its own inputs."""

    @abstractmethod
    def encode(self, value: Any, out: FormValues) -> bool:
        """Write the form values a browser would post for ``value`` into ``out``."""

    def initial(self, out: FormValues) -> None:
        """Write the values a fresh form shows: the default, where there is one."""
        if self.default is not MISSING:
            self.encode(self.default, out)

    def errors_in(self, errors: Mapping[str, list[str]]) -> list[str]:
        """This field's messages ("" holds the form's own: the page shows those on top)."""
        return list(errors.get(self.key, [])) if self.key else []

    def describedby(self, errors: Mapping[str, list[str]]) -> str:
        """The ids for ``aria-describedby``: the help text and the error, when shown."""
        ids = [self.help_id] if self.has_help else []
        if self.errors_in(errors):
            ids.append(self.error_id)
        return " ".join(ids)

    def text(self, values: FormValues) -> str:
        """The text to show in this field's input."""
        return first(values, self.name) or ""
