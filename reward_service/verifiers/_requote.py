"""Python-style quoting as JSON, for box lists whose labels hold an apostrophe.

V-Triune turns every ``'`` into ``"`` before ``json.loads``, so ``'label': "person's bag"`` (a
Python ``repr``) and the unescaped ``'person's bag'`` a model writes both break the JSON.
"""

from __future__ import annotations

import json
import re

_QUOTE = re.compile("['\"]")
_VALUE_ENDS = frozenset(",:]}")


def requoted(text: str) -> str | None:
    """``text`` with each quoted string re-emitted as a JSON string, in one linear pass;
    ``None`` if a string is never closed.

    ``"…"`` ends at the next ``"``; ``'…'`` at the next ``'`` followed (after blanks) by ``,``,
    ``:``, ``]``, ``}`` or the end of the text — any other ``'`` is an apostrophe inside it.
    """
    out: list[str] = []
    start = 0
    while (opening := _QUOTE.search(text, start)) is not None:
        end = _string_end(text, opening.start())
        if end < 0:
            return None
        out += [text[start : opening.start()], json.dumps(text[opening.start() + 1 : end])]
        start = end + 1
    out.append(text[start:])
    return "".join(out)


def _string_end(text: str, opening: int) -> int:
    """Where the string opened at ``opening`` closes, or −1. Each blank after a ``'`` is looked
    at once: the blanks end at the next non-blank, before which no other ``'`` lies."""
    if text[opening] == '"':
        return text.find('"', opening + 1)
    end = opening
    while (end := text.find("'", end + 1)) >= 0:
        after = end + 1
        while after < len(text) and text[after].isspace():
            after += 1
        if after == len(text) or text[after] in _VALUE_ENDS:
            return end
    return -1
