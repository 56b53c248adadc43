"""Declared parameters: each has its default, what it means, how it is checked and, where the CLI
offers it, its flag. The sampler, the filters, the audit plug-ins and the CLI all read the same
declarations, so a default or a check is written once and can't drift between Python and the CLI."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from smotext.errors import SmotextError

_UNSET = object()


@dataclass(frozen=True)
class Param:
    """One parameter. ``check(value)`` returns None if the value is allowed, else what is allowed
    (e.g. "an int >= 1"). ``flag`` is its CLI option (None: Python only); ``cli`` holds extra
    argparse settings (type, choices, nargs, metavar) and ``cli_default`` a CLI default that
    differs from the library's (e.g. a fixed seed)."""

    default: Any
    help: str = ""
    check: Callable[[Any], str | None] | None = None
    flag: str | None = None
    cli: Mapping[str, Any] = field(default_factory=dict)
    cli_default: Any = _UNSET

    def validate(self, name: str, value: Any, owner: str = "") -> None:
        if self.check is not None:
            check_value(name, value, self.check, owner)

    def add_to(self, parser, name: str) -> None:
        """Add this parameter's flag to an argparse parser (dest = the parameter's name)."""
        default = self.default if self.cli_default is _UNSET else self.cli_default
        if isinstance(default, tuple):
            default = list(default)
        kw = {"type": type(default) if isinstance(default, (int, float, str)) and not isinstance(default, bool) else None,
              **self.cli}
        if kw["type"] is None:
            del kw["type"]
        kw.setdefault("metavar", name.rsplit(":", 1)[-1].upper())
        shown = f" (default: {' '.join(map(str, default)) if isinstance(default, list) else default})" \
            if default is not None and "%(default)" not in self.help else ""
        parser.add_argument(self.flag, dest=name, default=default, help=f"{self.help}{shown}", **kw)


def check_value(name: str, value: Any, check: Callable[[Any], str | None], owner: str = "") -> None:
    """Raise SmotextError "name must be <what check allows>, got value" unless ``check`` allows ``value``."""
    allowed = check(value)
    if allowed is not None:
        where = f"{owner}: " if owner else ""
        raise SmotextError(f"{where}{name} must be {allowed}, got {value!r}", params=name)


def check_all(params: Mapping[str, Param], values: Mapping[str, Any], owner: str = "") -> None:
    """Check every declared parameter's value; the first bad one raises, naming it."""
    for name, p in params.items():
        if name in values:
            p.validate(name, values[name], owner)


def flags(params: Mapping[str, Param]) -> dict[str, str]:
    """Parameter name -> CLI flag, for the parameters that have one."""
    return {name: p.flag for name, p in params.items() if p.flag}


# ---------------------------------------------------------------- checks (each returns None or what is allowed)

def _is_int(v) -> bool:
    return isinstance(v, (int, numbers.Integral)) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def int_at_least(low: int, none_ok: bool = False) -> Callable[[Any], str | None]:
    def check(v):
        if none_ok and v is None:
            return None
        return None if _is_int(v) and v >= low else f"an int >= {low}" + (" or None" if none_ok else "")
    return check


def number_in(low: float, high: float = float("inf"), *, low_open: bool = False,
              high_open: bool = False) -> Callable[[Any], str | None]:
    """A finite number in the range (NaN and ±inf never pass: ``nan >= 0`` is False, but so is
    ``nan < 0``, so checks written as "refuse if below" would let it through)."""
    def check(v):
        ok = _is_number(v) and math.isfinite(v) and (v > low if low_open else v >= low) and \
            (v < high if high_open else v <= high)
        if ok:
            return None
        lo = f"> {low:g}" if low_open else f">= {low:g}"
        hi = "" if high == float("inf") else f" and {'<' if high_open else '<='} {high:g}"
        return f"a finite number {lo}{hi}"
    return check


def one_of(*choices) -> Callable[[Any], str | None]:
    def check(v):
        return None if v in choices else f"one of {', '.join(map(repr, choices))}"
    return check


def is_bool(v) -> str | None:
    return None if isinstance(v, bool) else "True or False"
