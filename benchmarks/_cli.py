"""Command-line options that several stagedb benchmark scripts share.

:mod:`_harness` re-exports these, so scripts call them as ``h.<name>``; each
adds one option where it is called, so every script keeps its own ``--help``
order.  The options are the ones :func:`_harness.run_in_workdir` reads
(``--workdir``, ``--wait-idle``) and ``--json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

WORKDIR_HELP = "parent of the temporary directory (default: system temp)"


def add_workdir_arg(parser: argparse.ArgumentParser, note: str = "") -> None:
    """``--workdir DIR``: where the temporary directory goes; ``note`` is appended to its help."""
    parser.add_argument("--workdir", default=None, help=WORKDIR_HELP + note)


def add_wait_idle_arg(parser: argparse.ArgumentParser) -> None:
    """``--wait-idle SECONDS`` (default 60): how long to wait for a quiet machine first."""
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=60,
        help="seconds to wait for other CPU load to stop before starting (default 60)",
    )


def add_json_arg(
    parser: argparse.ArgumentParser, text: str = "also write the results as JSON to this file"
) -> None:
    """``--json FILE``: also write the results as JSON there; ``text`` is its help."""
    parser.add_argument("--json", type=Path, default=None, help=text)
