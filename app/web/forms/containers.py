"""Fields made of other fields: objects (a fieldset), arrays (rows), and a ``oneOf``
whose variants are told apart by a ``const`` property (a choice of fieldsets)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .field import Field
from .options import Option
from .paths import MISSING, ROWS_MARKER, Segment, child_name, key_of, same_json
from .reader import MAX_ROWS, FormValues, Reader, row_count


@dataclass(frozen=True, eq=False, kw_only=True)
class ObjectField(Field):
    """An object with known properties: one field each, in the schema's order."""

    kind: ClassVar[str] = "object"
    children: tuple[Field, ...] = ()

    def child(self, prop: Segment) -> Field | None:
        return next((c for c in self.children if c.prop == prop), None)

    def _decode(self, reader: Reader) -> Any:
        result: dict[str, Any] = {}
        for child in self.children:
            value = child.decode(reader)
            if value is not MISSING:
                result[str(child.prop)] = value
        if not result and not self.required:
            return MISSING  # an optional object left blank is left out
        return result

    def encode(self, value: Any, out: FormValues) -> bool:
        if not isinstance(value, dict):
            return False
        for prop, item in value.items():
            child = self.child(prop)
            if child is None or not child.encode(item, out):
                return False
        return True

    def initial(self, out: FormValues) -> None:
        written: FormValues = {}
        if self.default is not MISSING and self.encode(self.default, written):
            out.update(written)
            return
        for child in self.children:
            child.initial(out)


@dataclass(frozen=True, eq=False, kw_only=True)
class ArrayField(Field):
    """A list of rows, each one field; Add and Remove are plain submit buttons."""

    kind: ClassVar[str] = "array"
    make_row: Callable[[int], Field]
    min_items: int = 0
    max_items: int | None = None
    item_label: str = "item"
    _built: dict[int, Field] = field(default_factory=dict)

    @property
    def rows_name(self) -> str:
        """The hidden input that tells how many rows the form shows (0 included)."""
        return f"{self.name}.{ROWS_MARKER}"

    @property
    def add_action(self) -> str:
        return f"add:{self.key}"

    def row(self, index: int) -> Field:
        if index not in self._built:
            self._built[index] = self.make_row(index)
        return self._built[index]

    def count(self, values: FormValues) -> int:
        return min(row_count(values, self.name), MAX_ROWS)

    def rows(self, values: FormValues) -> list[Field]:
        return [self.row(index) for index in range(self.count(values))]

    def can_add(self, values: FormValues) -> bool:
        return self.max_items is None or self.count(values) < self.max_items

    def can_remove(self, values: FormValues) -> bool:
        return self.count(values) > self.min_items

    def remove_action(self, row: Field) -> str:
        return f"remove:{row.key}"

    def _decode(self, reader: Reader) -> Any:
        count = row_count(reader.values, self.name)
        if count > MAX_ROWS:
            reader.fail(self.key, f"A list can hold at most {MAX_ROWS} rows here.")
            return MISSING
        if count == 0:
            return [] if self.required else MISSING
        items: list[Any] = []
        for index in range(count):
            row = self.row(index)
            value = row.decode(reader)
            if value is MISSING:
                reader.fail(row.key, "Fill in this row or remove it.")
                value = None
            items.append(value)
        return items

    def encode(self, value: Any, out: FormValues) -> bool:
        if not isinstance(value, list) or len(value) > MAX_ROWS:
            return False
        out[self.rows_name] = [str(len(value))]
        return all(self.row(index).encode(item, out) for index, item in enumerate(value))

    def initial(self, out: FormValues) -> None:
        written: FormValues = {}
        if self.default is not MISSING and self.encode(self.default, written):
            out.update(written)
            return
        count = min(self.min_items, 50) if self.html_required else 0
        out[self.rows_name] = [str(count)]
        for index in range(count):
            self.row(index).initial(out)


@dataclass(frozen=True)
class Variant:
    """One branch of a choice: the option that picks it and its own fields."""

    index: int
    option: Option
    fields: ObjectField


@dataclass(frozen=True, eq=False, kw_only=True)
class ChoiceField(Field):
    """A ``oneOf`` of objects with a ``const`` discriminator: radios, then one fieldset per
    variant (``data-variant``) whose inputs are read only when that variant is chosen."""

    kind: ClassVar[str] = "choice"
    disc: str
    variants: tuple[Variant, ...] = ()

    @property
    def disc_name(self) -> str:
        return child_name(self.name, self.disc)

    @property
    def disc_key(self) -> str:
        return key_of((*self.path, self.disc))

    @property
    def options(self) -> tuple[Option, ...]:
        return tuple(variant.option for variant in self.variants)

    @property
    def disc_error_id(self) -> str:
        return f"{self.id}--choice-error"

    def disc_errors(self, errors: Mapping[str, list[str]]) -> list[str]:
        return list(errors.get(self.disc_key, []))

    def disc_describedby(self, errors: Mapping[str, list[str]]) -> str:
        ids = [self.help_id] if self.has_help else []
        return " ".join([*ids, self.disc_error_id] if self.disc_errors(errors) else ids)

    def option_id(self, index: int) -> str:
        return f"{self.id}--{index}"

    def chosen(self, values: FormValues) -> Variant | None:
        """The variant whose radio is checked in ``values``."""
        token = values.get(self.disc_name, [None])[0]
        return next((v for v in self.variants if v.option.token == token), None)

    def variant_of(self, payload: Any) -> Variant | None:
        """The variant a payload belongs to, by its discriminator."""
        if not isinstance(payload, dict) or self.disc not in payload:
            return None
        value = payload[self.disc]
        return next((v for v in self.variants if same_json(v.option.value, value)), None)

    def _decode(self, reader: Reader) -> Any:
        token = reader.first(self.disc_name)
        if token is None or token == "":
            if self.required:
                reader.fail(self.disc_key, "Choose one of the options.")
            return MISSING
        variant = self.chosen(reader.values)
        if variant is None:
            reader.fail(self.disc_key, "Choose one of the options.")
            return MISSING
        rest = variant.fields.decode(reader)
        return {self.disc: variant.option.value, **(rest or {})}

    def encode(self, value: Any, out: FormValues) -> bool:
        variant = self.variant_of(value)
        if variant is None:
            return False
        out[self.disc_name] = [variant.option.token]
        rest = {key: item for key, item in value.items() if key != self.disc}
        return variant.fields.encode(rest, out)

    def initial(self, out: FormValues) -> None:
        written: FormValues = {}
        if self.default is not MISSING and self.encode(self.default, written):
            out.update(written)
            return
        for variant in self.variants:
            variant.fields.initial(out)
