"""Write output files atomically: into a temporary file beside the target, then rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tater_graph.errors import ExportError


def check_output_folder(path: Path) -> None:
    """Raise :class:`ExportError` unless the folder that will contain ``path`` exists."""
    folder = path.parent
    if not folder.is_dir():
        raise ExportError(f"output folder {folder} not found: create it first, or choose another output path")


def _umask() -> int:
    # The only portable way to read the umask is to set it and set it back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_paths(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Yield one temporary path per target; on success rename each onto its target.

    The temporary files sit in the target's folder (a rename within one file
    system is atomic on POSIX). If the block raises, every temporary file is
    removed and no target is touched. With several targets, a failure between
    two renames can leave the earlier targets replaced.
    """
    temporary = []
    try:
        for path in paths:
            check_output_folder(path)
            handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(handle)
            temporary.append(Path(name))
            # mkstemp creates the file readable by its owner only; give it the mode a new file gets.
            os.chmod(name, 0o666 & ~_umask())
        yield temporary
        for source, target in zip(temporary, paths):
            os.replace(source, target)
    finally:
        for name in temporary:
            name.unlink(missing_ok=True)
