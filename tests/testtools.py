"""Small helpers shared by several test files."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fsspec import AbstractFileSystem

from stagedb.catalog import commit
from stagedb.storage.paths import TEMP_MARKER


def stored_files(root: Path) -> list[str]:
    """Every file under ``root`` (temporary ones included), relative, sorted."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def temp_files(root: Path) -> list[str]:
    """stagedb's in-progress files under ``root``."""
    return [name for name in stored_files(root) if TEMP_MARKER in name]


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def exclusive_create_winners(fs: AbstractFileSystem, target: str, writers: int = 16) -> list[int]:
    """Race ``writers`` threads at ``commit.create_exclusive`` on one path; the winners."""
    barrier = threading.Barrier(writers)
    winners: list[int] = []

    def attempt(index: int) -> None:
        barrier.wait()
        try:
            commit.create_exclusive(fs, target, f'{{"writer": {index}}}'.encode())
        except FileExistsError:
            return
        winners.append(index)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners


def internal_stage_dir(data_dir: Path, stage: str) -> Path:
    """Where internal stage ``stage`` (as catalogued now) keeps its files on a local data root."""
    record = json.loads((data_dir / "catalog" / "stages" / f"{stage}.json").read_text())
    return data_dir / "stage" / "internal" / (record.get("files_dir") or stage)
