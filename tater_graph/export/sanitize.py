"""Turn attribute values into what each export format can store.

- GraphML and GEXF: None is left out of that node or edge. Each attribute
  name has one declared type: mixed int and float become float, and any
  other mix becomes str. Lists and dicts are JSON-encoded, numpy scalars
  become Python numbers, carriage returns become newlines, and characters
  that XML 1.0 forbids are removed.
- Node-link JSON: numpy scalars become Python numbers, tuples lists, and NaN
  and infinity null (JSON has neither). Lists and dicts stay JSON values.
- DOT: every string is quoted with ``\\``, ``"`` and line breaks escaped,
  lists and dicts are JSON-encoded, and None is left out.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable

# Characters outside the XML 1.0 Char production (https://www.w3.org/TR/xml/#charsets).
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_XML_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;",
                                        "\t": "&#9;", "\r": "&#13;"})
_DOT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def plain(value: object) -> object:
    """Return ``value`` with numpy scalars as Python numbers and tuples as lists."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    if isinstance(value, tuple):
        return list(value)
    return value


def json_value(value: object) -> object:
    """Return ``value`` as a JSON value: numbers, strings, lists, dicts with str keys, or None."""
    value = plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    return value


def xml_text(value: str) -> str:
    """Return ``value`` with line breaks as ``\\n`` and the characters XML 1.0 forbids removed."""
    return _XML_INVALID.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def xml_value(value: object) -> bool | int | float | str | None:
    """Return ``value`` as a bool, int, float or str that GraphML and GEXF can hold, or None to leave it out."""
    value = plain(value)
    if isinstance(value, (list, dict)):
        value = json.dumps(json_value(value), ensure_ascii=False)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return xml_text(str(value))


def declared_type(kinds: set[type]) -> type:
    """Return the one type that values of all ``kinds`` are written as.

    >>> declared_type({int}), declared_type({int, float}), declared_type({int, str})
    (<class 'int'>, <class 'float'>, <class 'str'>)
    """
    if len(kinds) == 1:
        return next(iter(kinds))
    if kinds <= {bool, int, float}:
        return float
    return str


def scan_types(records: Iterable[dict]) -> dict[str, type]:
    """Return the declared type of every attribute that has a value other than None in ``records``."""
    kinds: dict[str, set[type]] = {}
    for record in records:
        for key, value in record.items():
            value = xml_value(value)
            if value is not None:
                kinds.setdefault(key, set()).add(type(value))
    return {key: declared_type(found) for key, found in kinds.items()}


def xml_typed_text(value: object, kind: type) -> str | None:
    """Return ``value`` converted to ``kind`` and written as GraphML or GEXF text, or None to leave it out."""
    value = xml_value(value)
    if value is None:
        return None
    if kind is bool:
        return "true" if value else "false"
    if kind is str:
        return xml_text(value if isinstance(value, str) else str(value))
    return repr(kind(value))


def xml_escape_text(text: str) -> str:
    """Escape ``text`` for XML element content."""
    return text.translate(_XML_TEXT_ESCAPES)


def xml_escape_attribute(text: str) -> str:
    """Escape ``text`` for a double-quoted XML attribute, keeping tabs and line breaks as character references."""
    return text.translate(_XML_ATTRIBUTE_ESCAPES)


def dot_quote(text: str) -> str:
    """Return ``text`` as a quoted DOT string whose label shows it unchanged.

    Backslashes are doubled (Graphviz reads ``\\l``, ``\\N`` and the like as
    escapes in labels), quotes escaped and line breaks written as ``\\n``.

    >>> print(dot_quote('a "b"\\n\\\\frac{1}{2}'))
    "a \\"b\\"\\n\\\\frac{1}{2}"
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{escaped}"'


def dot_value(value: object) -> str | None:
    """Return ``value`` as a DOT attribute value (a number, ``true``/``false`` or a quoted string), or None."""
    value = plain(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return repr(value)
    if isinstance(value, (list, dict)):
        value = json.dumps(json_value(value), ensure_ascii=False)
    return dot_quote(str(value))


def dot_attributes(data: dict) -> dict[str, str]:
    """Return ``data`` as DOT attributes, leaving out None and quoting names that are not plain DOT IDs."""
    attributes = {}
    for key, value in data.items():
        text = dot_value(value)
        if text is not None:
            attributes[key if _DOT_NAME.fullmatch(key) else dot_quote(key)] = text
    return attributes
