"""Response length in tokens for the source summary (``RAAS_TOKENIZER``), counted where the rule
pool scores: a Hugging Face ``tokenizer.json`` read by the ``tokenizers`` library (Rust, no
torch), loaded once per pool child. Counting costs about as much as a cheap verifier, so it is
off unless a tokenizer is configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

INSTALL_HINT = 'RAAS_TOKENIZER needs the tokenizers library: pip install "raas[tokens]"'


def load_tokenizer(path: str) -> Any:
    """A ``tokenizers.Tokenizer`` from ``path`` (the JSON file, or a folder holding
    ``tokenizer.json``); a ``ValueError`` that says what is missing."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    file = Path(path)
    if file.is_dir():
        file = file / "tokenizer.json"
    if not file.is_file():
        raise ValueError(f"RAAS_TOKENIZER: no tokenizer file at {str(file)!r}")
    try:
        return Tokenizer.from_file(str(file))
    except Exception as exc:
        raise ValueError(f"RAAS_TOKENIZER: {file} is not a tokenizer.json: {exc}") from None


def count_tokens(tokenizer: Any, text: str) -> int:
    """Tokens of ``text`` as the policy wrote them: no special tokens added."""
    return len(tokenizer.encode(text, add_special_tokens=False).ids)
