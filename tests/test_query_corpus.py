"""Replay what MySQL clients and BI tools send on connect and while browsing.

``tests/queries/<client>.sql`` holds one command per line, in the order the client
sent them (captured with ``tests/queries/capture.py`` where the client runs here,
written from FACTS.md and the tools' sources where it does not).  Each file is
replayed on one connection of a live server holding a stage ``existing`` with one
file, and every command must answer without error and with a plausible shape: a
result set's rows have as many values as it has columns, its column definitions
decode.  A line may end with an annotation:

- ``-- expect: rows`` / ``-- expect: empty``: a result set with rows / without;
- ``-- expect: error NNNN``: the client relies on this error (e.g. SQLAlchemy's
  has_table);
- ``-- xfail: reason``: known not to work yet; the test fails once it does, so the
  annotation goes.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clienttools import (
    BASE_CLIENT_CAPABILITIES,
    Capability,
    Packet,
    RawClient,
    parse_column_definition,
    parse_err,
    parse_ok,
    parse_text_row,
    read_lenenc_int,
)
from conftest import ServerProcess, start_server

QUERIES = Path(__file__).parent / "queries"
CORPUS = sorted(QUERIES.glob("*.sql"))
_ANNOTATION = re.compile(r"\s+-- (expect|xfail): (.*)$")

#: The issue's list of statements that must answer: each must be in the corpus.
REQUIRED = [
    "SHOW ENGINES", "SHOW CHARSET", "SHOW COLLATION", "SHOW PLUGINS", "SHOW TABLE STATUS",
    "SHOW KEYS", "SHOW GRANTS FOR", "SET @@session.time_zone", "set autocommit=1, sql_mode",
    "FROM DUAL WHERE 1=0", "INFORMATION_SCHEMA.KEYWORDS", "#COM_STATISTICS",
]  # fmt: skip

COM_INIT_DB, COM_FIELD_LIST, COM_STATISTICS = 0x02, 0x04, 0x09
COM_STMT_PREPARE, COM_STMT_CLOSE = 0x16, 0x19


@dataclass(frozen=True)
class Line:
    """One corpus line: the command, its annotation, where it is."""

    where: str
    command: str
    expect: str = ""
    xfail: str = ""


def read_corpus(path: Path) -> list[Line]:
    """The commands of one corpus file (comment lines skipped)."""
    lines: list[Line] = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip() or text.startswith("--"):
            continue
        command, expect, xfail = text, "", ""
        if match := _ANNOTATION.search(text):
            command = text[: match.start()]
            if match.group(1) == "expect":
                expect = match.group(2).split(" (")[0]
            else:
                xfail = match.group(2)
        lines.append(Line(f"{path.name}:{number}", command.strip(), expect.strip(), xfail))
    return lines


@pytest.fixture(scope="module")
def corpus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the whole corpus: a stage ``existing`` holding ``seed.csv``."""
    root = tmp_path_factory.mktemp("corpus")
    proc = start_server(str(root / "data"))
    try:
        proc.query("CREATE STAGE existing")
        (root / "seed.csv").write_bytes(b"a,b\n1,2\n")
        done = subprocess.run(
            ["curl", "-sS", "-f", "-u", "root:", "-H", "stage_name:existing", "-F",
             "upload=@seed.csv", "-XPUT", f"{proc.http_url}/v1/upload_to_stage"],
            cwd=root, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield proc
    finally:
        proc.stop()


def _read_until_eof(client: RawClient) -> list[Packet]:
    packets = [client.read_packet()]
    while not (packets[-1].is_eof or packets[-1].is_err):
        packets.append(client.read_packet())
    return packets


def _check_result(line: Line, packets: list[Packet]) -> str | None:
    """What is wrong with a COM_QUERY answer (None: nothing)."""
    first = packets[0]
    if line.expect.startswith("error"):
        wanted = int(line.expect.split()[1])
        got = parse_err(first).errno if first.is_err else None
        return None if got == wanted else f"expected error {wanted}, got {got or 'no error'}"
    if first.is_err:
        error = parse_err(first)
        return f"ERROR {error.errno} ({error.sqlstate}): {error.message}"
    if first.is_ok:
        return f"no result set, expected {line.expect}" if line.expect else None
    count, _ = read_lenenc_int(first.payload, 0)
    definitions = [parse_column_definition(p.payload) for p in packets[1 : 1 + (count or 0)]]
    if not definitions or any(not d.name for d in definitions):
        return f"a result set with unnamed columns: {definitions}"
    rows = [parse_text_row(p.payload) for p in packets[2 + len(definitions) : -1]]
    if packets[-1].is_err:
        return f"failed mid-result: {parse_err(packets[-1]).message}"
    if any(len(row) != len(definitions) for row in rows):
        return f"rows of the wrong width for {len(definitions)} columns"
    if line.expect == "rows" and not rows:
        return "no rows"
    if line.expect == "empty" and rows:
        return f"{len(rows)} rows, expected none"
    return None


def replay(client: RawClient, line: Line) -> str | None:
    """Run one corpus command; what is wrong with the answer (None: nothing)."""
    name, _, argument = line.command.partition(" ")
    if name == "#COM_STATISTICS":
        client.write_packet(bytes([COM_STATISTICS]), seq=0)
        answer = client.read_packet()
        return None if b"Uptime: " in answer.payload else f"not a status line: {answer.payload!r}"
    if name == "#COM_INIT_DB":
        client.write_packet(bytes([COM_INIT_DB]) + argument.encode(), seq=0)
        answer = client.read_packet()
        return parse_err(answer).message if answer.is_err else None
    if name == "#COM_FIELD_LIST":
        client.write_packet(bytes([COM_FIELD_LIST]) + argument.encode() + b"\0", seq=0)
        packets = _read_until_eof(client)
        if packets[-1].is_err:
            return parse_err(packets[-1]).message
        return None if len(packets) > 1 else "no fields"
    if name == "#COM_STMT_PREPARE":
        client.write_packet(bytes([COM_STMT_PREPARE]) + argument.encode(), seq=0)
        answer = client.read_packet()
        if answer.is_err:
            return parse_err(answer).message
        params = int.from_bytes(answer.payload[7:9], "little")
        columns = int.from_bytes(answer.payload[5:7], "little")
        for count in (params, columns):
            if count:
                _read_until_eof(client)
        client.write_packet(bytes([COM_STMT_CLOSE]) + answer.payload[1:5], seq=0)
        return None if params == argument.count("?") else f"{params} parameters"
    return _check_result(line, client.query(line.command))


def test_the_corpus_holds_the_issues_statements() -> None:
    commands = "\n".join(line.command for path in CORPUS for line in read_corpus(path))
    for required in REQUIRED:
        assert required.lower() in commands.lower(), required
    assert {p.stem for p in CORPUS} >= {
        "dbeaver", "metabase", "grafana", "mycli", "mysql_connector_j", "mariadb_connector_j",
        "mysql_cli", "sqlalchemy",
    }  # fmt: skip


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_replay(corpus_server: ServerProcess, path: Path) -> None:
    lines = read_corpus(path)
    assert lines, path
    problems: list[str] = []
    with RawClient(corpus_server.host, corpus_server.mysql_port) as client:
        capabilities = BASE_CLIENT_CAPABILITIES | Capability.CLIENT_MULTI_RESULTS
        assert parse_ok(client.login("root", capabilities)).header == 0
        for line in lines:
            problem = replay(client, line)
            if line.xfail and problem is None:
                problems.append(f"{line.where}: works now, remove its xfail: {line.command}")
            elif problem is not None and not line.xfail:
                problems.append(f"{line.where}: {problem}\n    {line.command[:200]}")
    assert not problems, "\n".join(problems)
