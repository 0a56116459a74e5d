"""Result files: written whole (temporary file, fsync, rename) with the umask's mode."""

from __future__ import annotations

import os
import stat

import pytest

from perllm_opt.cli import files


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_mode_follows_the_umask(umask, mode, tmp_path):
    old = os.umask(umask)
    try:
        files.write_atomic(tmp_path / "a" / "metrics.json", "[]\n")
    finally:
        os.umask(old)
    path = tmp_path / "a" / "metrics.json"
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_text("utf-8") == "[]\n"
    assert os.umask(old) == old  # the umask is left as it was
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]


def test_bytes_fsync_and_no_leftover_on_failure(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    files.write_atomic(tmp_path / "x.parquet", b"\x00\x01")
    assert (tmp_path / "x.parquet").read_bytes() == b"\x00\x01" and len(synced) == 1

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(tmp_path / "x.parquet", b"new")
    # The old file is intact and no temporary file is left behind.
    assert (tmp_path / "x.parquet").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.parquet"]
