"""A reward-function file run the way trainers load it: by path, as a fresh module that is not
in ``sys.modules`` (verl's ``load_extern_object``, OpenRLHF's ``reward_func`` file)."""

from __future__ import annotations

import importlib.util
from types import ModuleType


def load_by_path(path: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
