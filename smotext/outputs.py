"""Writing outputs safely, for every command: an output never replaces an input, a destination that
can't be written is found before any work starts, and a run's folder is complete or absent."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from smotext.errors import SmotextError

PathLike = str | os.PathLike


def json_safe(obj):
    """``obj`` with every non-finite float written as strict JSON can hold it: NaN as null,
    ±infinity as "inf"/"-inf" (``float()`` reads those back). Python's json writes NaN and
    Infinity, which are not JSON."""
    if isinstance(obj, float) or type(obj).__name__ in ("float32", "float64", "float16"):
        v = float(obj)
        return v if math.isfinite(v) else (None if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (int, float, str)):  # a numpy array or scalar
        return json_safe(obj.tolist())
    return obj


def _real(p: PathLike) -> Path:
    return Path(os.path.realpath(os.fspath(p)))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_outputs(outputs: Mapping[str, tuple[PathLike, str]], inputs: Mapping[str, PathLike | None]) -> None:
    """Refuse outputs that would replace or sit over an input, or that can't be written.

    ``outputs`` maps a parameter name to (path, "file" or "folder"); ``inputs`` maps a parameter
    name to a path (None: not given). A folder output may not contain an input (the run would
    replace it). Raises SmotextError naming the parameters; writes nothing."""
    ins = {name: _real(p) for name, p in inputs.items() if p is not None and str(p)}
    outs = {name: (_real(p), kind) for name, (p, kind) in outputs.items() if p is not None}
    for out_name, (out, kind) in outs.items():
        for in_name, src in ins.items():
            clash = _inside(src, out) if kind == "folder" else src == out
            if clash:
                what = "contains" if kind == "folder" and src != out else "is"
                raise SmotextError(f"{out_name} {out} {what} the input {in_name}; choose an output that leaves the "
                                   "inputs alone", params=(out_name, in_name))
        _check_writable(out_name, out, kind)
    seen: dict[Path, str] = {}
    for name, (out, _) in outs.items():
        if out in seen:
            raise SmotextError(f"{seen[out]} and {name} are the same path {out}", params=(seen[out], name))
        seen[out] = name


def _check_writable(name: str, path: Path, kind: str) -> None:
    if path.exists():
        if kind == "folder" and not path.is_dir():
            raise SmotextError(f"{name} {path} is a file; it must be a folder", params=name)
        if kind == "file" and path.is_dir():
            raise SmotextError(f"{name} {path} is a folder; it must be a file", params=name)
    parent = path.parent
    while not parent.exists():  # the nearest existing ancestor is where folders would be made
        parent = parent.parent
    if not parent.is_dir():
        raise SmotextError(f"{name} {path}: {parent} is a file, so nothing can be written under it", params=name)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SmotextError(f"{name} {path}: can't write in {parent} (permission denied)", params=name)
    if path.exists() and not os.access(path, os.W_OK):
        raise SmotextError(f"{name} {path}: can't be replaced (permission denied)", params=name)


@contextmanager
def atomic_folder(target: PathLike) -> Iterator[Path]:
    """Build a folder beside ``target`` and move it into place only when the block completes.

    On any exception (Ctrl-C and SIGTERM included) the half-made folder is removed and an old
    ``target`` is left as it was; on success an old ``target`` is replaced whole."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.part-", dir=target.parent))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(work, 0o777 & ~mask)  # mkdtemp makes it private (0700); the run folder gets the usual mode
    try:
        yield work
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "previous")
            try:
                os.replace(work, target)
            except BaseException:
                os.replace(old / "previous", target)  # put the complete old run back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(work, target)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


@contextmanager
def atomic_files(*targets: PathLike) -> Iterator[list[Path]]:
    """Temporary paths for a set of files that appear together or not at all.

    Yields one temporary path per target (same folder, same extension); when the block completes
    they are renamed onto the targets, else removed."""
    paths = [Path(t) for t in targets]
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
    temps = [p.with_name(f".{p.stem}.part-{os.getpid()}{p.suffix}") for p in paths]
    try:
        yield temps
        for tmp, p in zip(temps, paths):
            os.replace(tmp, p)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
