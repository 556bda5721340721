"""Every verifier and format checker, one module each; ``load_verifiers`` registers them.

Rule verifiers are this package's modules, model verifiers those of ``verifiers.model``, format
checkers ``verifiers.formats``. Importing the package registers nothing: each role loads what it
serves (a model worker only the model verifiers and format checkers, without sympy or shapely).
"""

from __future__ import annotations

import importlib
import pkgutil

from reward_service.verifiers import model


def load_verifiers(models_only: bool = False) -> None:
    """Import, and so register, every verifier and format checker, or (``models_only``) the
    model verifiers and the format checkers only. Idempotent."""
    rules = [m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg]
    names = ["formats"] if models_only else [n for n in rules if not n.startswith("_")]
    names += [f"model.{m.name}" for m in pkgutil.iter_modules(model.__path__)]
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
