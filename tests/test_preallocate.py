"""Disk blocks reserved ahead of large writes (stagedb/storage/preallocate.py).

The reservation must never show in a committed file (its size and its disk
usage are those of its bytes), must vanish with a discarded one, and must
never make a write fail where it would otherwise succeed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from stagedb.storage import preallocate
from stagedb.storage.atomic import LocalAtomicFile
from stagedb.storage.preallocate import Preallocation

MIB = 1024 * 1024

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="fallocate(2) is Linux's"
)


def _allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


@linux_only
def test_large_file_reserves_ahead_then_releases_the_tail(tmp_path: Path) -> None:
    final = tmp_path / "big.bin"
    target = LocalAtomicFile(str(final))
    chunk = os.urandom(MIB)
    for _ in range(3):
        target.write(chunk)
    temp = Path(target.temp_path)
    assert target.blocks.reserved >= MIB + preallocate.MIN_AHEAD  # from the first full MiB
    assert _allocated(temp) >= preallocate.MIN_AHEAD  # reserved on disk, not yet written
    assert temp.stat().st_size == 3 * MIB  # KEEP_SIZE: the size is only what was written
    assert target.commit() == 3 * MIB
    assert final.read_bytes() == chunk * 3
    assert _allocated(final) <= 3 * MIB + 64 * 1024


def test_small_file_reserves_nothing(tmp_path: Path) -> None:
    target = LocalAtomicFile(str(tmp_path / "small.bin"))
    target.write(b"x" * (preallocate.START_AFTER - 1))
    assert target.blocks.reserved == 0
    target.commit()
    assert (tmp_path / "small.bin").stat().st_size == preallocate.START_AFTER - 1


@linux_only
def test_discarded_file_leaves_nothing(tmp_path: Path) -> None:
    target = LocalAtomicFile(str(tmp_path / "gone.bin"))
    target.write(os.urandom(2 * MIB))
    assert target.blocks.reserved > 0
    target.discard()
    assert list(tmp_path.iterdir()) == []


@linux_only
def test_known_end_reserves_exactly(tmp_path: Path) -> None:
    target = LocalAtomicFile(str(tmp_path / "exact.bin"))
    target.blocks.before_write(5 * MIB, known_end=5 * MIB)
    assert target.blocks.reserved == 5 * MIB
    target.write(os.urandom(5 * MIB))
    assert target.blocks.reserved == 5 * MIB  # nothing more: the end was known
    assert target.commit() == 5 * MIB


def test_refused_reservation_only_turns_itself_off() -> None:
    """A descriptor that cannot take fallocate (here a pipe: ESPIPE) must not fail writes."""
    read_end, write_end = os.pipe()
    try:
        blocks = Preallocation(write_end)
        blocks.before_write(8 * MIB)
        assert blocks.reserved == 0
        assert not blocks.enabled
        blocks.release_tail(0)  # nothing reserved: no call on the pipe
    finally:
        os.close(read_end)
        os.close(write_end)
