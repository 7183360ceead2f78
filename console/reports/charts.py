"""Bar charts as inline SVG, drawn from the figures alone: the HTML page and the PDF show the same picture, and
the PDF needs no JavaScript and fetches nothing."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

WIDTH = 640
ROW_HEIGHT = 22
LABEL_WIDTH = 220
VALUE_WIDTH = 70
BAR_COLOUR = "#3b6ea8"


def bar_chart(*, title: str, rows: Sequence[tuple[str, int]]) -> str:
    """Horizontal bars, one per ``(label, value)``, scaled to the largest value."""
    height = ROW_HEIGHT * (len(rows) + 1)
    largest = max((value for _, value in rows), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">',
        f'<text x="0" y="14" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for index, (label, value) in enumerate(rows, start=1):
        top = index * ROW_HEIGHT
        length = round(span * value / largest)
        parts.append(f'<text x="0" y="{top + 15}" font-size="12">{escape(label)}</text>')
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{top + 4}" width="{length}" height="14" fill="{BAR_COLOUR}"/>')
        parts.append(f'<text x="{LABEL_WIDTH + length + 6}" y="{top + 15}" font-size="12">{value:,}</text>')
    parts.append("</svg>")
    return "".join(parts)
