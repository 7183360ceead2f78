"""What an admin page shows, read from its HTML without depending on the theme's markup around it."""

from __future__ import annotations

import html as html_module
import re
from typing import Any

_TAGS = re.compile(r"<[^>]+>")


def _text(fragment: str) -> str:
    return " ".join(html_module.unescape(_TAGS.sub(" ", fragment)).split())


def readonly_values(page: str) -> list[str]:
    """The text of every read-only field of a change page, in order."""
    return [_text(value) for value in re.findall(r'<div class="readonly\b[^"]*">(.*?)</div>', page, re.DOTALL)]


def changelist_cells(page: str, column: str) -> list[str]:
    """The text of every cell of ``column`` (a field or method name) in a changelist, in order."""
    pattern = rf'<t[dh] class="[^"]*\bfield-{re.escape(column)}\b[^"]*"[^>]*>(.*?)</t[dh]>'
    return [_text(cell) for cell in re.findall(pattern, page, re.DOTALL)]


def changelist_count(response: Any) -> int:
    """How many rows the changelist found (all pages), as the admin counted them."""
    return int(response.context_data["cl"].result_count)
