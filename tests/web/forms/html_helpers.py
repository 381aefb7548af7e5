"""A small HTML tree from the standard library's parser, to assert on elements, not text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import jinja2

from app.web.forms import Form

VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)
TEMPLATES = jinja2.FileSystemLoader(Path(__file__).resolve().parents[3] / "templates")


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    content: list[Element | str] = field(default_factory=list)  # in document order

    @property
    def children(self) -> list[Element]:
        return [node for node in self.content if isinstance(node, Element)]

    def __getitem__(self, name: str) -> str:
        value = self.attrs[name]
        return "" if value is None else value

    def has(self, name: str) -> bool:
        return name in self.attrs

    def get(self, name: str) -> str | None:
        return self.attrs.get(name)

    def walk(self) -> Iterator[Element]:
        for child in self.children:
            yield child
            yield from child.walk()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        wanted = {name.rstrip("_").replace("_", "-"): value for name, value in attrs.items()}
        return [
            e
            for e in self.walk()
            if (tag is None or e.tag == tag) and all(e.attrs.get(k) == v for k, v in wanted.items())
        ]

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]

    def by_id(self, element_id: str) -> Element:
        return self.find(None, id=element_id)

    @property
    def text(self) -> str:
        """All text inside, whitespace collapsed."""
        parts = [node if isinstance(node, str) else node.text for node in self.content]
        return " ".join("".join(parts).split())

    @property
    def raw_text(self) -> str:
        """A textarea's value as a browser sees it (the first newline is dropped)."""
        value = "".join(node for node in self.content if isinstance(node, str))
        return value[1:] if value.startswith("\n") else value

    def label_for(self, control: Element) -> Element:
        return self.find("label", for_=control["id"])

    def inputs(self) -> list[Element]:
        return [e for e in self.walk() if e.tag in ("input", "select", "textarea")]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.stack[-1].content.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].content.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return
        raise AssertionError(f"</{tag}> closes nothing")

    def handle_data(self, data: str) -> None:
        self.stack[-1].content.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert len(builder.stack) == 1, f"unclosed <{builder.stack[-1].tag}>"
    return builder.root


def environment() -> jinja2.Environment:
    """The options the dashboard's own environment uses."""
    return jinja2.Environment(
        loader=TEMPLATES,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_MACROS = environment().get_template("forms/_form.html").module


def render(
    form: Form,
    values: dict[str, list[str]] | None = None,
    errors: dict[str, list[str]] | None = None,
    macro: str = "render_fields",
) -> Element:
    """The parsed HTML of one of the form macros."""
    if macro == "render_mode_switch":
        return parse(str(_MACROS.render_mode_switch(form, values)))
    return parse(str(getattr(_MACROS, macro)(form, values, errors)))


def render_form_errors(errors: dict[str, list[str]]) -> Element:
    return parse(str(_MACROS.render_form_errors(errors)))


def assert_well_formed(page: Element) -> None:
    """Unique ids, a label for every visible input, describedby pointing at real ids."""
    ids = [e["id"] for e in page.walk() if e.has("id")]
    assert len(ids) == len(set(ids)), f"duplicate ids: {sorted(ids)}"
    for control in page.inputs():
        if control.get("type") != "hidden":
            assert page.find_all("label", for_=control["id"]), f"no label for {control.attrs}"
        for described in (control.get("aria-describedby") or "").split():
            assert described in ids, f"aria-describedby={described} points nowhere"
