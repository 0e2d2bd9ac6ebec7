"""Template filters of the web pages: status codes as people read them."""

from __future__ import annotations

from django import template

register = template.Library()

# Codes whose label is not simply the code with spaces for underscores.
LABELS = {
    "lost_to_follow_up": "Lost to follow-up",
    "sdv": "SDV'd",
    "sae": "SAE",
}


@register.filter
def label(code: object) -> str:
    """A status code as a label: `on_treatment` -> "On treatment", `not_applicable` -> "Not applicable"."""
    text = "" if code is None else str(code)
    if text in LABELS:
        return LABELS[text]
    text = text.replace("_", " ").strip()
    return text[:1].upper() + text[1:]
