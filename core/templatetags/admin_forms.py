"""Plain forms in the admin's own pages (reveal, step-up, shown-once, issue and register forms) in the theme's
style: the site's context carries the theme's classes for each kind of input (``form_classes``)."""

from __future__ import annotations

from collections.abc import Mapping

from django import template
from django.forms import BoundField
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def themed(field: BoundField, classes: Mapping[str, str] | None) -> SafeString:
    """The field's widget with the theme's classes for its kind; as Django renders it when there are none."""
    if not classes:
        return field.as_widget()
    widget = field.field.widget
    if getattr(widget, "input_type", "") != "checkbox":
        return field.as_widget(attrs={"class": classes.get("text_input", "")})
    if not getattr(widget, "allow_multiple_selected", False):
        return field.as_widget(attrs={"class": classes.get("checkbox", "")})
    return _checkbox_list(field, classes.get("checkbox", ""))


def _checkbox_list(field: BoundField, checkbox_classes: str) -> SafeString:
    """One labelled checkbox per line: the theme's checkbox classes go on the inputs, not on their container."""
    for option in field.subwidgets:
        option.data["attrs"] = {**option.data["attrs"], "class": checkbox_classes}
    options = format_html_join(
        "",
        '<label class="flex flex-row gap-2 items-center mb-2">{} {}</label>',
        ((option.tag(), option.choice_label) for option in field.subwidgets),
    )
    return format_html('<div id="{}" class="flex flex-col">{}</div>', field.auto_id, options)
