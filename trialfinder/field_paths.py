"""Field paths of change events ('a.b[Site, City, Country].c'): split, named and read for a list element's identity."""

from __future__ import annotations

import re


def split_field_path(field_path: str) -> list[str]:
    """'a.b[x.y].c' -> ['a', 'b[x.y]', 'c']: dots inside a bracketed identity do not split."""
    parts: list[str] = []
    current, depth = "", 0
    for char in field_path:
        if char == "." and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += (char == "[") - (char == "]" and depth > 0)
        current += char
    parts.append(current)
    return parts


def humanize(name: str) -> str:
    """'detailedDescription' -> 'Detailed description'; 'outcomeMeasuresModule' -> 'Outcome measures'."""
    name = re.sub(r"(Module|Struct)$", "", name)
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").strip()
    return words[:1].upper() + words[1:].lower() if words else "Details"


def field_identity(field_path: str | None) -> str | None:
    """The bracketed identity of the last list element in a field path (e.g. a site's label), or None."""
    if not field_path:
        return None
    for part in reversed(split_field_path(field_path)):
        if "[" in part and part.endswith("]"):
            return part.split("[", 1)[1][:-1]
    return None
