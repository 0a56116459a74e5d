"""The files a run directory holds, and the one way every entry point writes them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Files a run directory holds when it completed, or when it failed.
DONE_FILE, ERROR_FILE = "metrics.json", "error.txt"
#: A tuning trial's record (``experiment=tune``), and the study's table of them.
TRIAL_FILE, TRIALS_TABLE = "trial.json", "trials.csv"


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` via a temporary file, an fsync and a rename: readers never
    see a half-written file, and a crash leaves the old file or the new one. The file gets
    the mode a plain ``open`` would give (0666 less the umask: 0644 by default), not the
    0600 of a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        data = text.encode("utf-8") if isinstance(text, str) else text
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(out_dir: Path) -> None:
    """Remove the temporaries (``.<name>.*.tmp``) that a writer killed inside
    :func:`write_atomic` left in ``out_dir``; called by the run that now owns the directory,
    before it writes."""
    for path in out_dir.glob(".*.tmp") if out_dir.is_dir() else ():
        path.unlink(missing_ok=True)
