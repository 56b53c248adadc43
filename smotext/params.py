"""Declared parameters: each has its default, what it means, how it is checked and, where the CLI
offers it, its flag. The sampler, the filters, the audit plug-ins and the CLI all read the same
declarations, so a default or a check is written once and can't drift between Python and the CLI."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
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

    def add_to(self, parser, name: str, default: Any = _UNSET, note: str | None = None) -> None:
        """Add this parameter's flag to an argparse parser (dest = the parameter's name). A False
        default makes a switch. ``default``/``note`` override the default and what help says of it."""
        if default is _UNSET:
            default = self.default if self.cli_default is _UNSET else self.cli_default
        if isinstance(default, tuple):
            default = list(default)
        if isinstance(self.default, bool) and not self.cli:
            parser.add_argument(self.flag, dest=name, action="store_true", default=default, help=self.help)
            return
        typed = next((v for v in (self.default, default) if isinstance(v, (int, float, str)) and not isinstance(v, bool)),
                     None)
        kw = {"type": type(typed) if typed is not None else None, **self.cli}
        if kw["type"] is None:
            del kw["type"]
        if kw.get("action") not in ("append", "store_true"):
            kw.setdefault("metavar", name.rsplit(":", 1)[-1].upper())
        if note is None:
            note = (' '.join(map(str, default)) if isinstance(default, list) else str(default)) \
                if default is not None and default != [] and default != "" else None
        shown = f" (default: {note})" if note is not None else ""
        parser.add_argument(self.flag, dest=name, default=default, help=f"{self.help}{shown}".replace("%", "%%"), **kw)


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


def dest(param: Param) -> str:
    """The argparse dest of a declared parameter's flag: the flag itself ("--k-neighbors" -> "k_neighbors"),
    so that two declarations sharing a flag share one value."""
    return param.flag.lstrip("-").replace("-", "_")


def add_declared(parser, groups: Sequence[tuple[str, Mapping[str, Param]]]) -> None:
    """Add the flags of every declared parameter in ``groups`` ((what it configures, declarations))
    to ``parser``, each group under its own heading. A flag that two groups share is added once: with
    one default it keeps it; with different defaults it defaults to None (each library class then
    applies its own) and its help names both."""
    seen: dict[str, list[tuple[str, str, Param]]] = {}
    for owner, params in groups:
        for name, p in params.items():
            if p.flag:
                seen.setdefault(p.flag, []).append((owner, name, p))
    headings = {}
    for flag, owners in seen.items():
        owner, name, p = owners[0]
        if owner not in headings:
            headings[owner] = parser.add_argument_group(owner) if owner else parser
        defaults = {repr(q.default if q.cli_default is _UNSET else q.cli_default) for _, _, q in owners}
        if len(defaults) == 1:
            p.add_to(headings[owner], dest(p))
        else:
            note = "; ".join(f"{_shown_default(q)} for {who.split(' (')[0]}" for who, _, q in owners)
            p.add_to(headings[owner], dest(p), default=None, note=note)


def _shown_default(p: Param) -> str:
    """A default as help shows it: a None default by what its help says None means ("(None: 30)")."""
    said = re.search(r"\(None: ([^)]*)\)", p.help)
    return said.group(1) if p.default is None and said else str(p.default)


def given(args, params: Mapping[str, Param], *, changed: bool = False) -> dict[str, Any]:
    """The values ``args`` (argparse) holds for the declared parameters with a flag, by parameter
    name, leaving out None (a shared flag left unset: the library's default applies) and, with
    ``changed``, values equal to the declared default."""
    out = {}
    for name, p in params.items():
        if not p.flag or (v := getattr(args, dest(p), None)) is None:
            continue
        v = tuple(v) if isinstance(p.default, tuple) and isinstance(v, list) else v
        if not (changed and v == p.default):
            out[name] = v
    return out


def flag_names(*declarations: Mapping[str, Param]) -> dict[str, str]:
    """Parameter name -> flag over several declarations (the first declaration of a name wins): how
    the CLI writes a library message's parameter names."""
    out: dict[str, str] = {}
    for params in declarations:
        for name, p in params.items():
            if p.flag:
                out.setdefault(name, p.flag)
    return out


def check_declared(obj, params: Mapping[str, Param], owner: str = "") -> None:
    """Check every declared attribute of a configuration object (a dataclass whose fields are declared)."""
    check_all(params, {name: getattr(obj, name) for name in params if hasattr(obj, name)}, owner)


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
