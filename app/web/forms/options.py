"""Fields that pick from a fixed list: ``enum``/``const`` (radios, select, buttons) and
arrays of such values (a checkbox group)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .field import Field
from .paths import MISSING, same_json
from .reader import FormValues, Reader

RADIO_LIMIT = 5  # up to this many options show as radios, more as a select


@dataclass(frozen=True)
class Option:
    """One choice: ``token`` is what the browser posts, ``value`` the JSON it stands for."""

    token: str
    value: Any
    label: str


def make_options(values: Sequence[Any], labels: Sequence[str | None] = ()) -> tuple[Option, ...]:
    """Options for ``values``: strings post as themselves, anything else as its JSON.

    If that would give two options one token (``"1"`` and ``1``), every token is JSON.
    """
    tokens = [value if isinstance(value, str) else _json(value) for value in values]
    if len(set(tokens)) != len(tokens):
        tokens = [_json(value) for value in values]
    titles = [*labels, *([None] * len(values))]
    return tuple(
        Option(token, value, titles[i] or option_label(value))
        for i, (token, value) in enumerate(zip(tokens, values, strict=True))
    )


def option_label(value: Any) -> str:
    """How a value reads on a radio or in a select."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return "None" if value is None else _json(value)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _option_for(options: Sequence[Option], value: Any) -> int | None:
    for index, option in enumerate(options):
        if same_json(option.value, value):
            return index
    return None


@dataclass(frozen=True, eq=False, kw_only=True)
class EnumField(Field):
    """One value out of a list; ``widget`` is radio, select or buttons (approve/reject)."""

    kind: ClassVar[str] = "enum"
    options: tuple[Option, ...] = ()
    widget: str = "radio"

    def _decode(self, reader: Reader) -> Any:
        token = reader.first(self.name)
        if token is None or token == "":
            return self.empty()
        for option in self.options:
            if option.token == token:
                return option.value
        reader.fail(self.key, "Choose one of the options.")
        return MISSING

    def encode(self, value: Any, out: FormValues) -> bool:
        if value is None and self.nullable:
            return True
        index = _option_for(self.options, value)
        if index is None:
            return False
        out[self.name] = [self.options[index].token]
        return True

    def option_id(self, index: int) -> str:
        return f"{self.id}--{index}"

    def selected(self, values: FormValues, option: Option) -> bool:
        return option.token in values.get(self.name, [])


@dataclass(frozen=True, eq=False, kw_only=True)
class MultiEnumField(Field):
    """An array of values from a list: one checkbox per option, posted under one name."""

    kind: ClassVar[str] = "multi_enum"
    options: tuple[Option, ...] = ()

    def _decode(self, reader: Reader) -> Any:
        chosen: list[Any] = []
        by_token = {option.token: option.value for option in self.options}
        for token in reader.get(self.name):
            if token in by_token:
                chosen.append(by_token[token])
            elif token != "":
                reader.fail(self.key, "Choose among the options shown.")
        if not chosen and not self.required:
            return MISSING  # nothing ticked in an optional group: leave it out
        return chosen

    def encode(self, value: Any, out: FormValues) -> bool:
        if not isinstance(value, list):
            return False
        found = [_option_for(self.options, item) for item in value]
        indexes = [index for index in found if index is not None]
        # A browser posts ticked boxes once each, in the order they are shown.
        if len(indexes) != len(found) or indexes != sorted(set(indexes)):
            return False
        if indexes:
            out[self.name] = [self.options[index].token for index in indexes]
        return True

    def option_id(self, index: int) -> str:
        return f"{self.id}--{index}"

    def selected(self, values: FormValues, option: Option) -> bool:
        return option.token in values.get(self.name, [])
