"""Writing outputs safely, for every command: an output never replaces an input, a destination that
can't be written is found before any work starts, and a run's folder is complete or absent."""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from smotext.errors import SmotextError, SmotextWarning

PathLike = str | os.PathLike

RUN_MARKER = ".smotext-run.json"  # written first into every folder smotext owns; nothing else makes a folder "ours"
TEMP_PREFIX = ".smotext-"  # temporary names are short (never the target's name): a long target must not fail on them
MAX_INPUT_BYTES = 64 * 2**20  # results.json, policies, allowlists: far larger than any real one
MAX_NESTING = 64  # JSON / YAML nesting depth; results.json is about 6 deep


# ---------------------------------------------------------------- reading untrusted files

def read_user_text(path: PathLike, what: str, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The text of a file a user handed us: a regular file (not a device, FIFO or folder), at most
    ``max_bytes``, UTF-8. Anything else raises SmotextError naming ``what`` and the path."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise SmotextError(f"{what} {p}: no such file") from None
    except OSError as e:
        raise SmotextError(f"{what} {p}: can't read it ({e.strerror or type(e).__name__})") from None
    if stat.S_ISDIR(st.st_mode):
        raise SmotextError(f"{what} {p}: is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise SmotextError(f"{what} {p}: not a regular file (a device, pipe or socket); give a file")
    if st.st_size > max_bytes:
        raise SmotextError(f"{what} {p}: {st.st_size:,} bytes is more than the {max_bytes:,} allowed")
    try:
        with open(p, "rb") as f:
            raw = f.read(max_bytes + 1)  # a file that grows while read is still capped
    except OSError as e:
        raise SmotextError(f"{what} {p}: can't read it ({e.strerror or type(e).__name__})") from None
    if len(raw) > max_bytes:
        raise SmotextError(f"{what} {p}: more than the {max_bytes:,} bytes allowed")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SmotextError(f"{what} {p}: not UTF-8 text (byte {e.start})") from None


def json_depth(text: str) -> int:
    """How deeply ``text``'s JSON arrays and objects nest (brackets inside strings ignored); found
    without parsing, so a hostile file can't exhaust the parser's recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def load_user_json(text: str, source: str, max_depth: int = MAX_NESTING):
    """Strict JSON from an untrusted file: nesting at most ``max_depth``, no NaN or Infinity."""
    if json_depth(text) > max_depth:
        raise SmotextError(f"{source}: nested more than {max_depth} levels deep; not a file smotext wrote")

    def refuse(c):
        raise ValueError(f"{c} is not JSON")

    try:
        return json.loads(text, parse_constant=refuse)
    except (ValueError, RecursionError) as e:
        raise SmotextError(f"{source}: not valid JSON: {e}") from None


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


def check_name_lengths(name: str, path: PathLike) -> None:
    """Refuse a path with a part longer than the file system allows, before any work starts."""
    p = Path(os.path.abspath(os.fspath(path)))
    base = p.parent
    while not base.exists():
        base = base.parent
    try:
        limit = os.pathconf(base, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in p.parts:
        if len(os.fsencode(part)) > limit:
            raise SmotextError(f"{name}: the name {part[:40]}… is {len(os.fsencode(part))} bytes long; this file system "
                               f"allows {limit}", params=name)


def _check_writable(name: str, path: Path, kind: str) -> None:
    check_name_lengths(name, path)
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


# ---------------------------------------------------------------- folders smotext owns

def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def read_marker(folder: PathLike) -> dict | None:
    """The marker smotext wrote first into a folder it owns, or None (no marker, or not one of ours)."""
    p = Path(folder) / RUN_MARKER
    try:
        if not stat.S_ISREG(os.lstat(p).st_mode) or os.lstat(p).st_size > 4096:
            return None
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("smotext") == "run-folder" else None


def write_marker(folder: PathLike, kind: str, target: str | None = None) -> dict:
    """Claim ``folder`` for smotext: its marker names the run (an id), the kind of output, the
    process and (for a folder built beside its place) the name it will take."""
    data = {"smotext": "run-folder", "kind": kind, "run_id": uuid.uuid4().hex, "pid": os.getpid(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "target": target}
    fd = os.open(Path(folder) / RUN_MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return data


def check_owned_folder(name: str, folder: PathLike) -> bool:
    """A folder an output goes into may be new, empty, or one smotext made (its marker); a
    symlink or a folder of someone else's is refused, naming what is there. Returns whether it
    exists and is ours (an earlier run, which is replaced only whole)."""
    p = Path(folder)
    if p.is_symlink():
        raise SmotextError(f"{name} {p} is a symbolic link; give the real folder", params=name)
    if not p.exists():
        return False
    if not p.is_dir():
        raise SmotextError(f"{name} {p} is a file; it must be a folder", params=name)
    if read_marker(p) is not None:
        return True
    entries = sorted(e.name for e in p.iterdir())
    if entries:
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
        raise SmotextError(f"{name} {p} holds files smotext did not write ({shown}) and no smotext run marker; "
                           "choose a new or empty folder", params=name)
    return False


def claim_folder(folder: PathLike, kind: str) -> None:
    """Make ``folder`` smotext's before writing into it: refused unless new, empty or already ours
    (``check_owned_folder``); then its marker is written first."""
    check_owned_folder("out", folder)
    Path(folder).mkdir(parents=True, exist_ok=True)
    if read_marker(folder) is None:
        write_marker(folder, kind)


def refuse_links(name: str, folder: PathLike, parts: tuple[str, ...]) -> None:
    """Refuse when any of ``parts`` inside ``folder`` is a symbolic link: writing through it would
    change a file elsewhere."""
    for part in parts:
        q = Path(folder) / part
        if q.is_symlink():
            raise SmotextError(f"{name}: {q} is a symbolic link; smotext writes only real files and folders there",
                               params=name)


def remove_stale_parts(target: PathLike) -> None:
    """Remove unfinished folders a killed run left beside ``target`` (``.NAME.part-*`` / ``.NAME.old-*``):
    they hold private splits. One whose process still runs is left alone; one without smotext's
    marker is named in a warning, never removed."""
    target = Path(target)
    if not target.parent.is_dir():
        return
    for prefix in (_side_prefix(target, "part"), _side_prefix(target, "old")):
        for stale in target.parent.glob(f"{glob_escape(prefix)}*"):
            if stale.is_symlink() or not stale.is_dir():
                continue
            marker = read_marker(stale) or read_marker(stale / "previous")
            if marker is not None and marker.get("target") not in (None, target.name):
                continue  # another run's, whose name starts the same way
            if marker is not None and not _pid_alive(marker.get("pid")):
                shutil.rmtree(stale, ignore_errors=True)
                warnings.warn(f"removed {stale}, an unfinished run folder left by a run that was stopped", SmotextWarning)
            elif marker is None:
                warnings.warn(f"{stale} looks like an unfinished run folder but has no smotext marker; it may hold "
                              "private data: remove it yourself", SmotextWarning)


def _side_prefix(target: Path, kind: str) -> str:
    """The name prefix of a folder built (``part``) or set aside (``old``) beside ``target``: short
    enough that a target name at the file system's limit still leaves room for it."""
    return f".{target.name[:48]}.{kind}-"


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


@contextmanager
def atomic_folder(target: PathLike, kind: str = "run") -> Iterator[Path]:
    """Build a folder beside ``target`` and move it into place only when the block completes.

    The folder carries smotext's marker (written first) and is owner-only while it is built (it
    holds private splits); on success it gets the usual mode and replaces an old ``target`` whole.
    On any exception (Ctrl-C and SIGTERM included) the half-made folder is removed and an old
    ``target`` is left as it was. Unfinished folders of killed runs into ``target`` are removed first."""
    target = Path(target)
    if target.is_symlink():
        raise SmotextError(f"out {target} is a symbolic link; give the real folder", params="out")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(target)
    work = Path(tempfile.mkdtemp(prefix=_side_prefix(target, "part"), dir=target.parent))  # 0700
    try:
        write_marker(work, kind, target.name)
        yield work
        os.chmod(work, usual_mode(0o777))  # the finished run folder gets the usual mode; private/ stays owner-only
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=_side_prefix(target, "old"), dir=target.parent))
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


def temp_beside(target: PathLike, suffix: str = "") -> Path:
    """A new empty file in ``target``'s folder, created exclusively (an existing name or a planted
    link is never opened), with a short name of its own."""
    folder = Path(target).parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=f".part{suffix}", dir=folder)
    try:
        os.fchmod(fd, usual_mode(0o666))  # mkstemp makes it 0600; the finished file gets a new file's usual mode
    finally:
        os.close(fd)
    return Path(tmp)


def usual_mode(base: int) -> int:
    """``base`` (0o666 for a file, 0o777 for a folder) less this process's umask: the mode a plain
    create would give. (Private outputs live in an owner-only folder.)"""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


@contextmanager
def atomic_files(*targets: PathLike) -> Iterator[list[Path]]:
    """Temporary paths for a set of files that appear together or not at all.

    Yields one temporary path per target (same folder, same extension, created exclusively);
    when the block completes they are renamed onto the targets, else removed. A target that is a
    symbolic link is refused (the rename would replace the link, never what it points to)."""
    paths = [Path(t) for t in targets]
    for p in paths:
        if p.is_symlink():
            raise SmotextError(f"{p} is a symbolic link; smotext does not write through links")
    temps: list[Path] = []
    try:
        for p in paths:
            temps.append(temp_beside(p, p.suffix))
        yield temps
        for tmp, p in zip(temps, paths):
            os.replace(tmp, p)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def write_text_atomic(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path``: whole or not at all, never through a link."""
    with atomic_files(path) as (tmp,):
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
