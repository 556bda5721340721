"""The exception tree in ``reward_service.errors``' docstring is the whole tree."""

from __future__ import annotations

import importlib
import pkgutil

import reward_service
from reward_service import errors


def subclasses(cls: type[BaseException]) -> set[type[BaseException]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= subclasses(sub)
    return found


def test_every_error_raas_raises_on_purpose_is_in_the_tree() -> None:
    for module in pkgutil.walk_packages(reward_service.__path__, "reward_service."):
        importlib.import_module(module.name)
    named = {cls.__name__ for cls in subclasses(errors.RaasError)}
    assert {"SpecError", "TableError", "Rejected", "RequestError"} <= named
    missing = [name for name in sorted(named) if f"``{name}``" not in (errors.__doc__ or "")]
    assert not missing, f"RaasError subclasses missing from errors' docstring: {missing}"
