"""The number form, generated from the settings' one definition (numbers.SETTINGS):
its fields, reading what a browser sends, and each error shown beside its field.

A value is checked by the setting's own `check`, the one OutboundNumber runs, so a
field's error is the message the API and the CLI give for the same value."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...bulk import TEMPLATE_SEPARATOR
from ...numbers import SETTINGS, OutboundNumber, Provider, Setting, check_template_id, plain
from ...phone import phone_info

CANNOT_CLEAR = "is empty: this setting cannot be cleared; give a value"
TEMPLATES = "templates"  # the form's field for a number's templates, after its settings
_INPUTS = {
    "e164": "tel",
    "provider": "select",
    "whole": "number",
    "flag": "checkbox",
    "text": "text",
    "reference": "text",
}


@dataclass(frozen=True, slots=True)
class Field:
    """One input of the form: a setting's, or the templates'."""

    name: str
    label: str
    help: str
    input: str  # tel, select, number, checkbox, text
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()


def fields(*, editing: bool = False) -> list[Field]:
    """The form's inputs in SETTINGS order, then the templates (an edit keeps the number)."""
    found = []
    for spec in SETTINGS:
        if editing and spec.kind == "e164":
            continue
        whole = spec.kind == "whole"
        found.append(
            Field(
                spec.name,
                spec.label,
                spec.help + (", or empty for none" if whole and spec.optional else ""),
                _INPUTS[spec.kind],
                required=spec.required or (whole and not spec.optional),
                minimum=spec.minimum if whole else None,
                maximum=spec.maximum if whole else None,
                choices=tuple(Provider) if spec.kind == "provider" else (),
            )
        )
    help = f"template ids, separated by {TEMPLATE_SEPARATOR!r} or commas"
    found.append(Field(TEMPLATES, "Templates", help, "text"))
    return found


def values_of(number: OutboundNumber, templates: Iterable[str]) -> dict[str, str]:
    """A registered number as the form shows it."""
    shown = {}
    for spec, value in zip(SETTINGS, plain(number), strict=True):
        if spec.kind == "flag":
            shown[spec.name] = "on" if value else ""
        else:
            shown[spec.name] = "" if value is None else str(value)
    shown[TEMPLATES] = f"{TEMPLATE_SEPARATOR} ".join(templates)
    return shown


class Parsed:
    """What a submitted form holds: the settings (typed), the templates, and the error
    of each field that is wrong (by field name)."""

    def __init__(self, form: Mapping[str, Any], *, e164: str | None = None) -> None:
        self.shown = {name: str(value) for name, value in form.items() if name != "csrf"}
        self.errors: dict[str, str] = {}
        number = e164 if e164 is not None else self.shown.get("e164", "").strip()
        try:
            number = phone_info(number, what="outbound number").e164
        except ValueError as error:
            self.errors["e164"] = str(error)
        self.settings: dict[str, Any] = {"e164": number}
        editing = e164 is not None
        for spec in SETTINGS:
            if spec.kind == "e164":
                continue
            if editing and _cleared(spec, self.shown.get(spec.name)):
                # A new number takes the default; an edit must not reset it silently.
                self.errors[spec.name] = f"{spec.name} {CANNOT_CLEAR}"
                continue
            value = _value(spec, self.shown.get(spec.name))
            try:
                self.settings[spec.name] = spec.check(value, number)
            except ValueError as error:
                self.errors[spec.name] = str(error)
                if spec.kind == "reference":  # it may be the secret itself: never echo it
                    self.shown[spec.name] = ""
        self.templates: list[str] = []
        for template in re.split(r"[;,]", self.shown.get(TEMPLATES, "")):
            try:
                if template.strip():
                    self.templates.append(check_template_id(template.strip()))
            except ValueError as error:
                self.errors.setdefault(TEMPLATES, str(error))

    def number(self) -> OutboundNumber:
        """The number the form describes (only once it has no field errors)."""
        return OutboundNumber(**self.settings)

    def blame(self, error: Exception) -> None:
        """File an error raised later (by the number as a whole, the registry) under
        the field its message names, else under the number."""
        message = str(error)
        for spec in sorted(SETTINGS, key=lambda s: -len(s.name)):
            if re.search(rf"\b{spec.name}\b", message):
                self.errors[spec.name] = message
                return
        if "template" in message:
            self.errors[TEMPLATES] = message
            return
        self.errors["e164"] = message


def _cleared(spec: Setting, text: str | None) -> bool:
    """Whether a field that must keep a value (channels: it has no "none") was emptied."""
    return spec.kind == "whole" and not spec.optional and not (text or "").strip()


def _value(spec: Setting, text: str | None) -> object:
    """A field's text as the setting's value: a checkbox is on or off, a blank is the
    setting's default ("" if it has none, for its check to refuse), a whole number is
    read as one; anything else goes to the setting's check as typed, to be refused in
    its words. Free text keeps its spaces, as the CSV keeps them."""
    if spec.kind == "flag":
        return bool(text)
    text = text or ""
    if not text.strip():
        return "" if spec.required else spec.default
    if spec.kind == "text":
        return text
    text = text.strip()
    if spec.kind != "whole":
        return text
    if text.isascii() and text.isdigit() and len(text) < 16:
        return int(text)
    return text if len(text) <= 20 else text[:20] + "..."  # shown in the error as typed
