"""Form fields for the admin that hold against any input: no form value can make a page 500.

Django's ``forms.JSONField`` has three ways to fail on what a person types:

- an empty value becomes ``None``, which a ``blank=True`` but ``null=False`` model field
  cannot store (``IntegrityError: NOT NULL``); here it becomes the model field's default
  (``{}``/``[]``: for a plan's ``follow_up``/``closing``, "the built-in one");
- ``json.loads`` recurses once per level, so 100,000 ``[`` raises ``RecursionError``, both
  when the form is cleaned and when it is shown again with its errors (``bound_data``);
- a ``\\u0000`` escape loads as a NUL character, which PostgreSQL refuses in ``jsonb``.
"""

from collections.abc import Callable

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from interviewsvc.parsers import JSONTooDeep, json_depth_check


def _contains_nul(value) -> bool:
    # Without recursion: the depth is bounded, but a wide document needs no stack either.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class BoundedJSONField(forms.JSONField):
    """``forms.JSONField`` with a depth limit, no NUL characters and a non-null empty value."""

    def __init__(self, *, empty_default: Callable[[], object] | None = None, **kwargs) -> None:
        self.empty_default = empty_default
        super().__init__(**kwargs)

    def to_python(self, value):
        if self.disabled:
            return value
        if isinstance(value, str):
            value = value.strip()  # only blanks: empty, as a person sees it
        if value in self.empty_values:
            return self.empty_default() if self.empty_default is not None else None
        if isinstance(value, str):
            try:
                json_depth_check(value)
            except JSONTooDeep as exc:
                raise ValidationError(f"{exc} Simplify the value.", code="invalid") from exc
            except ValueError as exc:  # unbalanced brackets: not JSON
                raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value}) from exc
        converted = super().to_python(value)
        if _contains_nul(converted):
            raise ValidationError("Null characters are not allowed.", code="null_characters_not_allowed")
        return converted

    def bound_data(self, data, initial):
        # Shown again after an error: a value too deep to load is shown as typed.
        if isinstance(data, str) and not self.disabled:
            try:
                json_depth_check(data)
            except ValueError:
                return forms.fields.InvalidJSONInput(data)
        return super().bound_data(data, initial)


def json_formfield(db_field: models.JSONField, **kwargs) -> forms.Field:
    """The form field for a model ``JSONField``: bounded, and empty means the field's default.

    Called from ``ModelAdmin.formfield_for_dbfield`` (``formfield_overrides`` cannot pass
    each field its own default).
    """
    if db_field.blank and not db_field.null and db_field.has_default():
        kwargs.setdefault("empty_default", db_field.get_default)
    return db_field.formfield(form_class=BoundedJSONField, **kwargs)


__all__ = ["BoundedJSONField", "json_formfield"]
