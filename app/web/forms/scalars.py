"""Fields holding one scalar typed in by hand: text, numbers, and the checkbox."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from .field import Field
from .paths import MISSING
from .reader import FormValues, Reader

_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")
_DAY = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_CLOCK = r"[0-9]{2}:[0-9]{2}"
_SECONDS = r":[0-9]{2}(?:\.[0-9]+)?"
_LOCAL_DATETIME = re.compile(f"{_DAY}T{_CLOCK}(?:{_SECONDS})?")
_UTC_DATETIME = re.compile(f"({_DAY}T{_CLOCK}{_SECONDS})Z")
_LOCAL_TIME = re.compile(f"{_CLOCK}(?:{_SECONDS})?")
_UTC_TIME = re.compile(f"({_CLOCK}{_SECONDS})Z")
_DATE = re.compile(_DAY)
_TRUE: Final = frozenset({"true", "on"})
_FALSE: Final = frozenset({"false", ""})


@dataclass(frozen=True, eq=False, kw_only=True)
class StringField(Field):
    """Text: an ``<input>`` of the type its ``format`` asks for, or a textarea."""

    kind: ClassVar[str] = "string"
    input_type: str = "text"  # text, email, url, date, datetime-local, time or textarea
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None  # already in the HTML attribute's whole-value form

    def _decode(self, reader: Reader) -> Any:
        raw = reader.first(self.name)
        if raw is None or raw == "":
            return self.empty()
        if self.input_type == "textarea":
            return raw.replace("\r\n", "\n")  # browsers post a textarea's newlines as CRLF
        if self.input_type == "datetime-local" and _LOCAL_DATETIME.fullmatch(raw):
            return _utc(raw, "T")  # the input has no zone: the help text says it is UTC
        if self.input_type == "time" and _LOCAL_TIME.fullmatch(raw):
            return _utc(raw, "")
        return raw

    def encode(self, value: Any, out: FormValues) -> bool:
        if value is None and self.nullable:
            return True
        if not isinstance(value, str):
            return False
        text = self._browser_text(value)
        if text is None:
            return False
        out[self.name] = [text]
        return True

    def _browser_text(self, value: str) -> str | None:
        """What this input would post for ``value``, or None if it cannot hold it."""
        if self.input_type == "textarea":
            return None if "\r" in value else value.replace("\n", "\r\n")
        if "\n" in value or "\r" in value:
            return None  # single-line inputs drop line breaks
        zoned = {"datetime-local": _UTC_DATETIME, "time": _UTC_TIME}.get(self.input_type)
        if zoned is not None:
            match = zoned.fullmatch(value)
            return match.group(1) if match else None
        if self.input_type == "date" and not _DATE.fullmatch(value):
            return None
        if self.input_type in ("email", "url") and value != value.strip():
            return None  # these inputs trim spaces
        return value


def _utc(local: str, separator: str) -> str:
    """A local date-time or time from an input, as RFC 3339 in UTC (seconds added)."""
    clock = local.split("T", 1)[1] if separator else local
    return f"{local}{':00' if len(clock) == 5 else ''}Z"


@dataclass(frozen=True, eq=False, kw_only=True)
class NumberField(Field):
    """A number input; ``integer`` refuses fractions."""

    kind: ClassVar[str] = "number"
    integer: bool = False
    minimum: str | None = None  # HTML attribute values
    maximum: str | None = None
    step: str = "any"

    def _decode(self, reader: Reader) -> Any:
        raw = (reader.first(self.name) or "").strip()
        if raw == "":
            return self.empty()
        if not _NUMBER.fullmatch(raw):
            reader.fail(self.key, "Must be a number.")
            return MISSING
        try:
            number: int | float = int(raw) if _INTEGER.fullmatch(raw) else float(raw)
        except ValueError:  # more digits than Python converts
            number = float("inf")
        if number in (float("inf"), float("-inf")):
            reader.fail(self.key, "Must be a smaller number.")
            return MISSING
        if self.integer and isinstance(number, float):
            if not number.is_integer():
                reader.fail(self.key, "Must be a whole number.")
                return MISSING
            number = int(number)
        return number

    def encode(self, value: Any, out: FormValues) -> bool:
        if value is None and self.nullable:
            return True
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        try:
            out[self.name] = [repr(value)]
        except ValueError:  # an integer with more digits than Python will print
            return False
        return True


@dataclass(frozen=True, eq=False, kw_only=True)
class BooleanField(Field):
    """A checkbox: checked is true; unchecked (the browser posts nothing) is false."""

    kind: ClassVar[str] = "boolean"

    def _decode(self, reader: Reader) -> Any:
        posted = reader.get(self.name)
        if any(value in _TRUE for value in posted):
            return True
        if all(value in _FALSE for value in posted):
            return False
        reader.fail(self.key, "Must be checked or unchecked.")
        return MISSING

    def encode(self, value: Any, out: FormValues) -> bool:
        if not isinstance(value, bool):
            return False
        if value:
            out[self.name] = ["true"]
        return True

    def checked(self, values: FormValues) -> bool:
        return any(value in _TRUE for value in values.get(self.name, []))
