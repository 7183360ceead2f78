"""A new template's definition and the rules Meta's review applies to its shape alone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from messaging.providers.templates import ParameterFormat, TemplateCategory
from messaging.providers.whatsapp.templates.slots import template_variables

NAME = re.compile(r"^[a-z0-9_]{1,512}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")
NAMED_VARIABLE = re.compile(r"^[a-z_][a-z0-9_]*$")
COMPONENT_TYPES = frozenset({"HEADER", "BODY", "FOOTER", "BUTTONS"})


class TemplateDefinitionError(ValueError):
    """A template that Meta would refuse; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, kw_only=True)
class TemplateDefinition:
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    parameter_format: str = ParameterFormat.POSITIONAL.value


def definition_check(definition: TemplateDefinition) -> None:
    """Raise ``TemplateDefinitionError`` for a definition Meta's review would refuse on its shape alone."""
    if not NAME.match(definition.name):
        raise TemplateDefinitionError("name", "Lower-case letters, digits and underscores, up to 512 characters.")
    if not LANGUAGE.match(definition.language):
        raise TemplateDefinitionError("language", "A language code such as en or en_US.")
    if definition.category not in TemplateCategory.values:
        raise TemplateDefinitionError("category", f"One of {', '.join(TemplateCategory.values)}.")
    if definition.parameter_format not in ParameterFormat.values:
        raise TemplateDefinitionError("parameter_format", f"One of {', '.join(ParameterFormat.values)}.")
    kinds = [str(component.get("type", "")).upper() for component in definition.components]
    if any(kind not in COMPONENT_TYPES for kind in kinds) or len(set(kinds)) != len(kinds):
        raise TemplateDefinitionError("components", "Components are HEADER, BODY, FOOTER and BUTTONS, each once.")
    if "BODY" not in kinds:
        raise TemplateDefinitionError("components", "A template has a BODY component.")
    for component in definition.components:
        _variables_check(component, definition.parameter_format)


def _variables_check(component: dict[str, Any], parameter_format: str) -> None:
    variables = template_variables(str(component.get("text", "")))
    if not variables:
        return
    kind = str(component.get("type", "")).upper()
    if parameter_format == ParameterFormat.NAMED:
        if not all(NAMED_VARIABLE.match(name) for name in variables):
            raise TemplateDefinitionError("components", f"{kind}: named variables are lower-case names.")
        return
    if sorted(variables, key=lambda name: (len(name), name)) != [str(n) for n in range(1, len(variables) + 1)]:
        raise TemplateDefinitionError(
            "components", f"{kind}: positional variables are {{{{1}}}}, {{{{2}}}}, … in turn."
        )
