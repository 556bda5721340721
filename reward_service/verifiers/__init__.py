"""Every verifier and format checker, one module each; ``load_verifiers`` registers them.

Importing this package registers nothing: each role loads what it serves (a model worker only the
model verifiers and format checkers, without sympy or shapely).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

MODEL_MODULES = ("rm", "bmas", "formats")  # what a model worker needs


def load_verifiers(modules: Iterable[str] | None = None) -> None:
    """Import, and so register, the named verifier modules (default: all). Idempotent."""
    if modules is None:
        modules = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    for name in modules:
        importlib.import_module(f"{__name__}.{name}")
