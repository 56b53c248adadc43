"""One plug-in contract for generation filters, audit plug-ins and generators.

A plug-in is a class with a ``name``, a ``description`` and declared ``params`` (name -> ``Param``).
It joins a ``Registry`` with ``@registry.register``; a second class under the same name is an
error. Third-party packages add plug-ins through an entry-point group (``smotext.filters``,
``smotext.audit_plugins``, ``smotext.generators``): the entry point's name is the plug-in's name and it points at the class.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import ClassVar, Generic, TypeVar

from smotext.errors import SmotextError
from smotext.params import Param, check_all


class Plugin:
    """Base of every plug-in: checks the parameters it is given against its declarations.

    ``settings`` holds every parameter's value (declared default unless given)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    kind_label: ClassVar[str] = "plug-in"  # how messages call it ("filter", "audit plug-in")

    def __init__(self, **overrides):
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            raise SmotextError(f"{self.kind_label} {self.name!r}: unknown parameter(s) {unknown}; "
                               f"it takes {sorted(self.params)}")
        check_all(self.params, overrides, owner=f"{self.kind_label} {self.name!r}")
        self.settings = {**{k: p.default for k, p in self.params.items()}, **overrides}

    def public_settings(self) -> dict:
        """The settings as a public file may show them (results.json); a plug-in whose parameters
        hold private values (a PII allowlist) replaces those with counts or digests."""
        return dict(self.settings)


P = TypeVar("P", bound=Plugin)


class Registry(Generic[P]):
    """Plug-ins of one kind by name: built-ins (imported on first use) plus entry points."""

    def __init__(self, kind: str, base: type[P], group: str, builtin_modules: Sequence[str] = ()):
        self.kind, self.base, self.group = kind, base, group
        self.builtin_modules = tuple(builtin_modules)
        self._classes: dict[str, type[P]] = {}
        self._loaded = False

    def register(self, cls: type[P]) -> type[P]:
        """Class decorator: add ``cls`` under ``cls.name``."""
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise SmotextError(f"{self.kind} {cls!r} is not a subclass of {self.base.__name__}")
        if not isinstance(cls.name, str) or not cls.name:
            raise SmotextError(f"{self.kind} class {cls.__qualname__} has no name")
        bad = sorted(k for k, v in cls.params.items() if not isinstance(v, Param))
        if bad:
            raise SmotextError(f"{self.kind} {cls.name!r}: parameters {bad} are not declared with Param")
        other = self._classes.get(cls.name)
        if other is not None and other is not cls:
            raise SmotextError(f"{self.kind} {cls.name!r} is registered twice: by {other.__module__}.{other.__qualname__} "
                               f"and {cls.__module__}.{cls.__qualname__}")
        self._classes[cls.name] = cls
        return cls

    def load_entry_points(self) -> None:
        """Import the built-ins and every plug-in installed under this registry's entry-point group
        (idempotent; call again after installing one in a running process)."""
        for module in self.builtin_modules:
            importlib.import_module(module)
        for ep in entry_points(group=self.group):
            try:
                cls = ep.load()
            except Exception as e:  # a broken third-party plug-in must not be skipped silently
                raise SmotextError(f"{self.kind} entry point {ep.name!r} ({ep.value}) failed to load: "
                                   f"{type(e).__name__}: {e}") from None
            if getattr(cls, "name", None) != ep.name:
                raise SmotextError(f"{self.kind} entry point {ep.name!r} ({ep.value}) names a class whose name is "
                                   f"{getattr(cls, 'name', None)!r}; the two must agree")
            self.register(cls)
        self._loaded = True

    def _ensure(self) -> None:
        if not self._loaded:
            self.load_entry_points()

    def names(self) -> list[str]:
        self._ensure()
        return list(self._classes)

    def classes(self) -> dict[str, type[P]]:
        self._ensure()
        return dict(self._classes)

    def get(self, name: str) -> type[P]:
        """The class registered as ``name``; an unknown name lists the valid ones."""
        self._ensure()
        if name not in self._classes:
            raise SmotextError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self._classes)}")
        return self._classes[name]

    def create(self, name: str, **params) -> P:
        return self.get(name)(**params)

    def __contains__(self, name: object) -> bool:
        self._ensure()
        return name in self._classes
