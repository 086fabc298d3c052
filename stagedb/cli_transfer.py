"""``stagedb upload`` and ``stagedb download``: files to and from a stage over the HTTP port.

Built on :class:`stagedb.client.StageClient`.  On a terminal they draw a
progress bar (files and bytes); otherwise they print one plain line per file
and a summary, which suits logs and scripts.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from stagedb.client import BATCH_FILES, DEFAULT_URL, StageClient, StageClientError


def parse_location(text: str) -> tuple[str, str]:
    """``@stage/path`` as (stage, path); ``@~`` is the user's own stage."""
    if not text.startswith("@") or len(text) < 2 or text[1] == "/":
        raise click.BadParameter(f"'{text}' is not a stage location such as @my_stage/path/")
    stage, _, path = text[1:].partition("/")
    return stage, path


class _Report:
    """Progress of a transfer: a click progress bar on a terminal, plain lines otherwise."""

    def __init__(self, verb: str, bar: bool) -> None:
        self.verb = verb
        self.use_bar = bar
        self.files = 0
        self.total_files = 0
        self.bytes = 0
        self.total_bytes = 0
        self.started = time.monotonic()
        self._bar: Any = None

    def start(self, files: int, total_bytes: int) -> None:
        self.total_files, self.total_bytes = files, total_bytes
        self.started = time.monotonic()
        if self.use_bar:
            self._bar = click.progressbar(
                length=max(total_bytes, 1),
                label=self.verb.capitalize(),
                item_show_func=lambda _item: self._counts(),
                file=sys.stdout,
            )
            self._bar.__enter__()

    def _counts(self) -> str:
        mib = 1024 * 1024
        return (
            f"{self.files}/{self.total_files} files, "
            f"{self.bytes / mib:.1f}/{self.total_bytes / mib:.1f} MiB"
        )

    def advance(self, name: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        if self._bar is not None:
            self._bar.update(size or (1 if self.total_bytes == 0 else 0))
        else:
            click.echo(f"{self.verb} {name} ({size} bytes)")

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
        seconds = max(time.monotonic() - self.started, 1e-9)
        click.echo(
            f"{self.verb} {self.files} files, {self.bytes} bytes in {seconds:.2f} s "
            f"({self.files / seconds:.0f} files/s)"
        )


def _client(options: dict[str, Any]) -> StageClient:
    return StageClient(
        options["url"],
        user=options["user"],
        password=options["password"],
        token=options["token"] or None,
        parallel=options["parallel"],
        batch_files=options["batch_files"],
    )


def _connection_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--url", envvar="STAGEDB_URL", default=DEFAULT_URL, show_default=True,
                         help="Base URL of the server's HTTP port."),
            click.option("--user", "-u", envvar="STAGEDB_USER", default="root", show_default=True),
            click.option("--password", "-p", envvar="STAGEDB_PASSWORD", default="",
                         help="Password (default: empty; better in STAGEDB_PASSWORD)."),
            click.option("--token", envvar="STAGEDB_TOKEN", default="",
                         help="A token from CREATE TOKEN, instead of user and password "
                              "(better in STAGEDB_TOKEN)."),
            click.option("--parallel", type=click.IntRange(1, 64), default=8, show_default=True,
                         help="Requests in flight."),
            click.option("--batch-files", type=click.IntRange(1, 1000), default=BATCH_FILES,
                         show_default=True,
                         help="Small files of one folder sent per upload request."),
            click.option("--progress/--no-progress", default=None,
                         help="Progress bar (default: when stdout is a terminal)."),
        ]
    ):  # fmt: skip
        command = option(command)
    return command


def _run(verb: str, options: dict[str, Any], transfer: Any) -> None:
    bar = options["progress"] if options["progress"] is not None else sys.stdout.isatty()
    report = _Report(verb, bar)
    try:
        transfer(_client(options), report)
    except StageClientError as error:
        raise click.ClickException(error.message) from None
    except (OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    report.finish()


@click.command()
@click.argument("local", type=click.Path(exists=True))
@click.argument("location")
@_connection_options
def upload(local: str, location: str, **options: Any) -> None:
    """Upload LOCAL (a file, or a folder recursively) to LOCATION (@stage/path/)."""
    stage, path = parse_location(location)
    _run(
        "uploaded",
        options,
        lambda client, report: client.upload(local, stage, path, progress=report),
    )


@click.command()
@click.argument("location")
@click.argument("local", type=click.Path())
@_connection_options
def download(location: str, local: str, **options: Any) -> None:
    """Download the files under LOCATION (@stage/path) into LOCAL."""
    stage, path = parse_location(location)
    _run(
        "downloaded",
        options,
        lambda client, report: client.download(stage, path, local, progress=report),
    )
