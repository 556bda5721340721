"""Normal forms shared by the text verifiers (``choice``, ``chart``, ``counting``, ``ocr``).

Each rule here is one a policy could otherwise use to write the same answer so that a check
misses it (a Cyrillic ``о`` hiding a "no"), or that loses a legitimate answer (a Unicode minus,
a bold option letter). None of them may change what an answer means:

* :func:`fold_lookalikes` — NFKC (full-width, mathematical alphanumerics, circled letters), format
  characters (zero-width spaces, soft hyphens, bidi marks) and combining marks (``N̲o̲``, ``Nó``)
  removed, and the Cyrillic, Greek, Armenian and small-capital letters drawn like a Latin letter
  mapped to it, lower-cased. For option letters
  and yes/no only: NFKC reads ``x²`` as ``x2``, which is wrong for text or numbers.
* :func:`ascii_minus` — the dashes used as a minus sign (U+2212 MINUS SIGN, as matplotlib's tick
  labels print it; figure dash, en dash, hyphen, non-breaking hyphen, small and full-width
  hyphen-minus) → ``-``. The em dash is left alone: in a table it means "no value".
* :func:`ascii_numerals` — full-width digits, full stop and percent sign (``４２．５％``, as CJK
  input methods type them) → ASCII; the full-width comma is left alone (in CJK text it separates
  list items, not thousands).
* :func:`composed` — NFC: composed and decomposed accents (``é`` as one code point or as ``e`` +
  U+0301) are canonically equivalent, so they compare equal; nothing else changes.
* :func:`read_through` — a whole answer wrapped in emphasis or math delimiters
  (``\\mathbf{B}``, ``\\textbf{B}``, ``\\text{B}``, ``**B**``, ``$B$``, ``\\(B\\)``) is read as
  what it wraps, up to ``MAX_WRAPPERS`` layers; a wrapper around part of the answer is kept
  (``**A** or **B**`` stays a hedge). Markdown (``*``, ``_``, backticks) can be left alone
  (``markdown=False``) where those characters may be the answer itself (``__init__`` in OCR).
"""

from __future__ import annotations

import re
import unicodedata

MAX_WRAPPERS = 8
"""Layers :func:`read_through` removes at most (a legitimate answer has one or two)."""

_MINUS = str.maketrans(dict.fromkeys("\u2212\u2012\u2013\u2010\u2011\ufe63\uff0d", "-"))
# full-width digits, full stop and percent sign (CJK input methods write them) → ASCII
_NUMERALS = str.maketrans({**{chr(0xFF10 + d): str(d) for d in range(10)}, "．": ".", "％": "%"})

# Letters drawn like a Latin letter (Unicode's confusables, restricted to whole-letter look-alikes
# of A–Z), mapped to that letter in lower case.
_LOOKALIKES = {
    # Cyrillic
    "А": "a",
    "В": "b",
    "С": "c",
    "Е": "e",
    "Н": "h",
    "І": "i",
    "Ј": "j",
    "К": "k",
    "М": "m",
    "О": "o",
    "Р": "p",
    "Ѕ": "s",
    "Т": "t",
    "Х": "x",
    "У": "y",
    "Ү": "y",
    "Ԛ": "q",
    "Ԝ": "w",
    "Ӏ": "l",
    "а": "a",
    "с": "c",
    "е": "e",
    "һ": "h",
    "і": "i",
    "ј": "j",
    "о": "o",
    "р": "p",
    "ѕ": "s",
    "х": "x",
    "у": "y",
    "ү": "y",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "ӏ": "l",
    # Greek
    "Α": "a",
    "Β": "b",
    "Ε": "e",
    "Ζ": "z",
    "Η": "h",
    "Ι": "i",
    "Κ": "k",
    "Μ": "m",
    "Ν": "n",
    "Ο": "o",
    "Ρ": "p",
    "Τ": "t",
    "Υ": "y",
    "Χ": "x",
    "ο": "o",
    "ν": "v",
    "ι": "i",
    "κ": "k",
    "ρ": "p",
    "υ": "u",
    # Armenian, and Latin letters outside A–Z drawn like one
    "օ": "o",
    "ս": "u",
    "հ": "h",
    "ո": "n",
    "ɑ": "a",
    "ı": "i",
    "ȷ": "j",
    "ɡ": "g",
    # Latin small capitals
    "ᴀ": "a",
    "ʙ": "b",
    "ᴄ": "c",
    "ᴅ": "d",
    "ᴇ": "e",
    "ɢ": "g",
    "ʜ": "h",
    "ɪ": "i",
    "ᴊ": "j",
    "ᴋ": "k",
    "ʟ": "l",
    "ᴍ": "m",
    "ɴ": "n",
    "ᴏ": "o",
    "ᴘ": "p",
    "ʀ": "r",
    "ꜱ": "s",
    "ᴛ": "t",
    "ᴜ": "u",
    "ᴠ": "v",
    "ᴡ": "w",
    "ʏ": "y",
    "ᴢ": "z",
}
_FOLD = str.maketrans(_LOOKALIKES)
_INVISIBLE = frozenset({"Cf", "Mn", "Me"})  # format characters, combining and enclosing marks

_LATEX_WRAPPER = re.compile(
    r"\\(?:text|textbf|textit|textrm|textsf|texttt|textnormal|textup|textsl|textsc"
    r"|mathbf|mathrm|mathit|mathsf|mathtt|mathnormal|boldsymbol|bm|emph|underline|mbox)"
    r"\s*\{(.*)\}",
    re.DOTALL,
)
_MATH = re.compile(
    r"\$\$([^$]+)\$\$|\$([^$]+)\$|\\\(((?:(?!\\\)).)*)\\\)|\\\[((?:(?!\\\]).)*)\\\]",
    re.DOTALL,
)
_MARKDOWN = re.compile(r"\*\*([^*]+)\*\*|__([^_]+)__|\*([^*]+)\*|_([^_]+)_|`([^`]+)`")


def fold_lookalikes(text: str) -> str:
    """NFKC, format characters and combining marks removed, look-alike letters → Latin,
    lower-cased."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text))
    text = "".join(c for c in text if unicodedata.category(c) not in _INVISIBLE)
    return text.translate(_FOLD).lower()


def ascii_minus(text: str) -> str:
    """Dashes that stand for a minus sign → ``-``."""
    return text if text.isascii() else text.translate(_MINUS)


def ascii_numerals(text: str) -> str:
    """Full-width digits, ``．`` and ``％`` → ASCII. Not NFKC: it reads ``10²`` as ``102``."""
    return text if text.isascii() else text.translate(_NUMERALS)


def composed(text: str) -> str:
    """NFC: canonically equivalent spellings (composed or decomposed accents) made one."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def read_through(text: str, *, markdown: bool = True) -> str:
    """``text`` stripped, without the emphasis or math wrappers that enclose all of it
    (Markdown's only when ``markdown``)."""
    text = text.strip()
    delimiters = (_MATH, _MARKDOWN) if markdown else (_MATH,)
    for _ in range(MAX_WRAPPERS):
        inner = _unwrapped(text, delimiters)
        if inner is None:
            break
        text = inner.strip()
    return text


def _unwrapped(text: str, delimiters: tuple[re.Pattern[str], ...]) -> str | None:
    """What one wrapper around the whole of ``text`` encloses, else ``None``."""
    if latex := _LATEX_WRAPPER.fullmatch(text):
        inner = latex.group(1)
        return inner if _balanced(inner) else None
    for pattern in delimiters:
        if delimited := pattern.fullmatch(text):
            inner = next(group for group in delimited.groups() if group is not None)
            return inner if _balanced(inner) else None
    return None


def _balanced(text: str) -> bool:
    """Braces balanced and never closed before opened (``\\text{a} \\text{b}`` is two wrappers,
    not one around ``a} \\text{b``)."""
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0
