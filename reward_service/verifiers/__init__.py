"""Every verifier and format checker, one module each; importing this package registers them."""

from __future__ import annotations

import importlib
import pkgutil


def _load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


_load_all()
