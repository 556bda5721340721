"""Normal forms shared by the text verifiers: wrappers, look-alikes, minus signs, NFC."""

from __future__ import annotations

import pytest

from reward_service.verifiers._normalise import (
    MAX_WRAPPERS,
    ascii_minus,
    composed,
    fold_lookalikes,
    read_through,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\mathbf{B}", "B"),
        ("  \\textbf { B } ", "B"),
        ("\\text{\\textbf{B}}", "B"),  # nested
        ("**B**", "B"),
        ("__B__", "B"),
        ("*B*", "B"),
        ("`B`", "B"),
        ("$B$", "B"),
        ("$$ B $$", "B"),
        ("\\(B\\)", "B"),
        ("\\[B\\]", "B"),
        ("**$\\mathbf{B}$**", "B"),  # mixed layers
        ("\\text{a{b}c}", "a{b}c"),  # balanced braces inside
        # a wrapper around part of the answer is kept
        ("**A** or **B**", "**A** or **B**"),
        ("\\text{A} or \\text{B}", "\\text{A} or \\text{B}"),
        ("\\(A\\) or \\(B\\)", "\\(A\\) or \\(B\\)"),
        ("$A$ and $B$", "$A$ and $B$"),
        ("\\frac{1}{2}", "\\frac{1}{2}"),  # not a wrapper
        ("B", "B"),
    ],
)
def test_read_through(text: str, expected: str) -> None:
    assert read_through(text) == expected


def test_read_through_can_leave_markdown() -> None:
    assert read_through("__init__", markdown=False) == "__init__"
    assert read_through("**$\\text{B}$**", markdown=False) == "**$\\text{B}$**"
    assert read_through("$\\text{**B**}$", markdown=False) == "**B**"


def test_read_through_is_bounded() -> None:
    deep = "\\text{" * 1_000 + "B" + "}" * 1_000
    left = read_through(deep)
    assert left.startswith("\\text{")
    assert left.count("\\text{") == 1_000 - MAX_WRAPPERS
    read_through("\\text{" * 10_000)  # unbalanced: linear, no answer
    read_through("\\(" * 30_000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", "yes"),
        ("N\u043e", "no"),  # Cyrillic o
        ("\u039do", "no"),  # Greek Nu
        ("\uff2e\uff4f", "no"),  # full-width
        ("\U0001d40d\U0001d428", "no"),  # mathematical bold
        ("N\u200bo", "no"),  # zero-width space
        ("N\u00ado", "no"),  # soft hyphen
        ("\u0274\u1d0f", "no"),  # small capitals
        ("\u24b7", "b"),  # circled letter
        ("\u0412", "b"),  # Cyrillic Ve
        ("\u03b2", "\u03b2"),  # Greek beta is not drawn like b
        ("N\u0332o\u0332", "no"),  # combining low lines
        ("N\u00f3", "no"),  # an accent
        ("n\u20dd", "n"),  # an enclosing circle
        ("\u0578\u0585", "no"),  # Armenian vo and oh
    ],
)
def test_fold_lookalikes(text: str, expected: str) -> None:
    assert fold_lookalikes(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\u22123.5", "-3.5"),
        ("\u20123.5", "-3.5"),
        ("\u20133.5", "-3.5"),
        ("\u20103.5", "-3.5"),
        ("\u20113.5", "-3.5"),
        ("\ufe633.5", "-3.5"),
        ("\uff0d3.5", "-3.5"),
        ("\u20143.5", "\u20143.5"),  # the em dash means "no value"
        ("3.5", "3.5"),
    ],
)
def test_ascii_minus(text: str, expected: str) -> None:
    assert ascii_minus(text) == expected


def test_composed_relates_only_canonical_equivalents() -> None:
    assert composed("Cafe\u0301") == composed("Caf\u00e9") == "Caf\u00e9"
    assert composed("\u212b") == "\u00c5"
    assert composed("x\u00b2") == "x\u00b2"
    assert composed("\ufb01") == "\ufb01"
