"""Turning a (shaped) JSON Schema into a tree of fields, one per place in the payload."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .conditions import condition_hints
from .containers import ArrayField, ChoiceField, ObjectField, Variant
from .field import Field
from .options import RADIO_LIMIT, EnumField, MultiEnumField, Option, make_options
from .paths import MISSING, Path, child_name, humanize, id_of, same_json, variant_name
from .scalars import BooleanField, NumberField, StringField
from .shape import Shaper, Unsupported, consts_of
from .widgets import fits_type, number_attributes, string_attributes


@dataclass(frozen=True)
class Place:
    """Where a field sits: its payload path, input name, fallback label, requiredness."""

    path: Path
    name: str
    label: str
    required: bool
    html_required: bool
    in_variant: bool = False  # every variant shows without JS: the browser must not insist
    row: bool = False  # rows are labelled by number, whatever the item's title
    hints: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()  # the $refs inlined above: one met again is a recursion


@dataclass(frozen=True)
class Builder:
    """Builds the fields of one form; ``skip`` names the root properties the server fills."""

    shaper: Shaper
    id_prefix: str
    skip: frozenset[str]

    def field(self, raw: Any, place: Place) -> Field:
        schema, nullable, refs = self.shaper.shape(raw, place.refs)
        place = replace(place, refs=refs)
        common = self._common(schema, place, nullable)
        consts = consts_of(schema)
        if consts is not None:
            options = _options(schema, nullable, *consts)
            widget = "radio" if len(options) <= RADIO_LIMIT else "select"
            return EnumField(**common, options=options, widget=widget)
        kind = _type_of(schema)
        if "oneOf" in schema and kind in ("object", None):
            return self._choice(schema, place, common)
        if "oneOf" in schema or "anyOf" in schema:
            raise Unsupported("a oneOf/anyOf the form cannot show as a choice")
        if kind == "object":
            return self._object(schema, place, common)
        if kind == "array":
            return self._array(schema, place, common)
        if kind == "string":
            attributes, hints = string_attributes(schema)
            return StringField(**{**common, "hints": (*common["hints"], *hints)}, **attributes)
        if kind in ("integer", "number"):
            attributes, hints = number_attributes(schema, integer=kind == "integer")
            return NumberField(**{**common, "hints": (*common["hints"], *hints)}, **attributes)
        if kind == "boolean" and nullable:
            options = _options(schema, True, [True, False], [None, None])
            return EnumField(**common, options=options, widget="radio")
        if kind == "boolean":
            return BooleanField(**common)
        raise Unsupported("a schema without a type")

    def _common(self, schema: dict[str, Any], place: Place, nullable: bool) -> dict[str, Any]:
        title = schema.get("title")
        description = schema.get("description")
        examples = schema.get("examples")
        example = examples[0] if isinstance(examples, list) and examples else None
        read_only = schema.get("readOnly") is True
        if "if" in schema and _type_of(schema) != "object":
            raise Unsupported("if/then/else outside an object")
        return {
            "schema": schema,
            "path": place.path,
            "name": place.name,
            "id": id_of(self.id_prefix, place.name),
            "label": title if isinstance(title, str) and title and not place.row else place.label,
            "required": place.required,
            "html_required": place.html_required and not read_only and not place.in_variant,
            "description": description if isinstance(description, str) else None,
            "hints": place.hints,
            "read_only": read_only,
            "default": schema.get("default", MISSING),
            "nullable": nullable,
            "placeholder": str(example)
            if isinstance(example, str | int | float) and not isinstance(example, bool)
            else None,
        }

    def _object(
        self,
        schema: dict[str, Any],
        place: Place,
        common: dict[str, Any],
        skip: frozenset[str] = frozenset(),
    ) -> ObjectField:
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        if not isinstance(properties, dict) or not isinstance(required, list):
            raise Unsupported("malformed properties or required")
        skip = skip | (self.skip if place.path == () else frozenset())
        shown = frozenset(properties) | skip
        if any(name not in shown for name in required):
            raise Unsupported("a required property the schema does not describe")
        labels = {name: _title(sub, humanize(name)) for name, sub in properties.items()}
        hints = condition_hints(schema, shown, lambda name: labels.get(name, humanize(name)))
        children = []
        for name, sub in properties.items():
            if name in skip:
                continue
            needed = name in required
            children.append(
                self.field(
                    sub,
                    Place(
                        (*place.path, name),
                        child_name(place.name, name),
                        humanize(name),
                        needed,
                        common["html_required"] and needed,
                        place.in_variant,
                        hints=tuple(hints.get(name, ())),
                        refs=place.refs,
                    ),
                )
            )
        return ObjectField(**common, children=tuple(children))

    def _array(self, schema: dict[str, Any], place: Place, common: dict[str, Any]) -> Field:
        items = schema.get("items")
        if not isinstance(items, dict):
            raise Unsupported("an array without an items schema")
        shaped, nullable, _ = self.shaper.shape(items, place.refs)
        consts = consts_of(shaped)
        if consts is not None and not nullable:
            return MultiEnumField(**common, options=_options(shaped, False, *consts))
        noun = _title(shaped, "Item")

        def make_row(index: int) -> Field:
            return self.field(
                items,
                Place(
                    (*place.path, index),
                    child_name(place.name, index),
                    f"{noun} {index + 1}",
                    True,
                    not place.in_variant,
                    place.in_variant,
                    row=True,
                    refs=place.refs,
                ),
            )

        make_row(0)  # refuse an unsupported item schema now, not while rendering
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        return ArrayField(
            **common,
            make_row=make_row,
            min_items=low if isinstance(low, int) else 0,
            max_items=high if isinstance(high, int) else None,
            item_label=noun.lower(),
        )

    def _choice(self, schema: dict[str, Any], place: Place, common: dict[str, Any]) -> Field:
        branches = schema.get("oneOf")
        if not isinstance(branches, list) or len(branches) < 2 or "properties" in schema:
            raise Unsupported("a oneOf the form cannot show as a choice")
        shapes = [self.shaper.shape(branch, place.refs) for branch in branches]
        shaped = [shape.schema for shape in shapes]
        disc, values = _discriminator(shaped)
        variants = []
        for index, (branch, value) in enumerate(zip(shaped, values, strict=True)):
            label = _title(branch, "") or (
                humanize(value) if isinstance(value, str) else make_options([value])[0].label
            )
            spot = Place(
                place.path,
                variant_name(place.name, index),
                label,
                True,
                False,
                True,
                refs=shapes[index].refs,
            )
            rest = {
                **branch,
                "properties": {k: v for k, v in branch["properties"].items() if k != disc},
            }
            fields = self._object(rest, spot, self._common(rest, spot, False), frozenset({disc}))
            option = replace(make_options(values)[index], label=label)
            variants.append(Variant(index, option, replace(fields, label=label)))
        if place.path == ():
            first = shaped[0]["properties"][disc]
            common["label"] = _title(first if isinstance(first, dict) else {}, humanize(disc))
        return ChoiceField(**common, disc=disc, variants=tuple(variants))


def _options(
    schema: dict[str, Any], nullable: bool, values: list[Any], titles: list[str | None]
) -> tuple[Option, ...]:
    """The options of an enum-like schema, less the values its own type refuses."""
    kept = [
        (v, t)
        for v, t in zip(values, titles, strict=True)
        if fits_type(v, schema.get("type"), nullable)
    ]
    if not kept:
        raise Unsupported("an enum whose values its type refuses")
    return make_options([v for v, _ in kept], [t for _, t in kept])


def _type_of(schema: dict[str, Any]) -> str | None:
    """The declared type, or the one ``properties``/``items`` imply when none is declared."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if isinstance(schema.get("properties"), dict):
        return "object"
    if isinstance(schema.get("items"), dict):
        return "array"
    return None


def _title(schema: Any, fallback: str) -> str:
    title = schema.get("title") if isinstance(schema, dict) else None
    return title if isinstance(title, str) and title else fallback


def _discriminator(branches: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """The property every branch fixes to a different ``const``, and those values."""
    if not all(
        isinstance(b.get("properties"), dict) and _type_of(b) in ("object", None) for b in branches
    ):
        raise Unsupported("a oneOf of non-objects")
    for name in branches[0]["properties"]:
        values = [_const(b["properties"].get(name)) for b in branches]
        if all(v is not MISSING for v in values) and not any(
            same_json(a, b) for i, a in enumerate(values) for b in values[i + 1 :]
        ):
            return name, values
    raise Unsupported("a oneOf without a const property telling its variants apart")


def _const(schema: Any) -> Any:
    if isinstance(schema, dict) and "const" in schema:
        return schema["const"]
    if (
        isinstance(schema, dict)
        and isinstance(schema.get("enum"), list)
        and len(schema["enum"]) == 1
    ):
        return schema["enum"][0]
    return MISSING
