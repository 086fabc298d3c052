"""The stage grammar: every line of grammar/corpus/*.tsv against the StageDB dialect.

The corpus format is described in grammar/README.md; the grammar in grammar/stage.ebnf.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlglot
import sqlglot.parser
import sqlglot.tokens
from sqlglot import expressions as exp

from stagedb.errors import SyntaxException
from stagedb.sql.dialect import StageDB, parse_statements, to_sql
from stagedb.sql.generator import StageDBGenerator
from stagedb.sql.nodes import (
    STAGE_STATEMENTS,
    CreateStage,
    DescribeStage,
    DropStage,
    ListFiles,
    Presign,
    RemoveFiles,
    ShowStages,
    StageLocation,
)
from stagedb.sql.parser import StageDBParser

CORPUS = Path(__file__).resolve().parent.parent / "grammar" / "corpus"
NODE_KINDS = {node.__name__: node for node in STAGE_STATEMENTS}
MYSQL = "mysql"
# issue 7: MySQL statements stagedb extends (DIRECTORY(@s) tables, SHOW KEYS)
EXTENDED_KINDS: dict[str, type[exp.Expression]] = {"Select": exp.Select, "Show": exp.Show}


def decode(field: str) -> str:
    """The SQL a corpus input field stands for (␉ is a tab, ␤ a newline)."""
    return field.replace("␉", "\t").replace("␤", "\n")


def corpus_lines(name: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, tab-separated fields) of every case line of a corpus file."""
    text = (CORPUS / name).read_text(encoding="utf-8")
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip() and not line.startswith("#"):
            yield number, line.split("\t")


def cases(name: str) -> list[object]:
    return [pytest.param(fields, id=f"{name}:{number}") for number, fields in corpus_lines(name)]


@pytest.fixture(autouse=True)
def _quiet_sqlglot() -> Iterator[None]:
    """Stock sqlglot logs a warning for every statement it keeps as a Command."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def only(sql: str) -> exp.Expression:
    """The one statement ``sql`` parses to."""
    statements = parse_statements(sql)
    assert len(statements) == 1, f"{sql!r} parsed to {len(statements)} statements"
    return statements[0]


# -- the corpus ----------------------------------------------------------------------------


@pytest.mark.parametrize("fields", cases("accepted.tsv"))
def test_accepted(fields: list[str]) -> None:
    assert len(fields) == 3, f"expected input<TAB>canonical<TAB>kind, got {fields}"
    source, canonical, kind = fields
    sql = decode(source)
    tree = only(sql)
    if kind == MYSQL:
        stock = sqlglot.parse_one(sql, read="mysql")
        assert tree == stock, f"not the stock mysql tree: {tree!r} != {stock!r}"
        assert stock.sql(dialect="mysql") == canonical, "not the stock mysql SQL"
    elif kind in EXTENDED_KINDS:
        assert type(tree) is EXTENDED_KINDS[kind]
        try:
            stock_tree = sqlglot.parse_one(sql, read="mysql")
        except sqlglot.errors.ParseError:
            stock_tree = None
        assert tree != stock_tree, "the stock mysql tree: mark it mysql"
    else:
        assert kind in NODE_KINDS, f"unknown kind {kind!r}: {sorted(NODE_KINDS)} or mysql"
        assert type(tree) is NODE_KINDS[kind]
    assert to_sql(tree) == canonical
    again = [to_sql(statement) for statement in parse_statements(canonical)]
    assert again == [canonical], "the canonical text does not parse back to itself"


@pytest.mark.parametrize("fields", cases("rejected.tsv"))
def test_rejected(fields: list[str]) -> None:
    assert len(fields) == 3, f"expected input<TAB>expected text<TAB>position, got {fields}"
    source, expected, position = fields
    with pytest.raises(SyntaxException) as caught:
        parse_statements(decode(source))
    error = caught.value
    assert (error.code, error.errno, error.sqlstate) == (1005, 1064, "42000")
    assert expected in error.message
    if position != "-":
        line, column = position.split(":")
        assert f"at line {line}, column {column}:" in error.message


def test_corpus_covers_the_grammar() -> None:
    accepted = [fields for _, fields in corpus_lines("accepted.tsv")]
    rejected = [fields for _, fields in corpus_lines("rejected.tsv")]
    assert len(accepted) >= 60 and len(rejected) >= 30
    kinds = {fields[-1] for fields in accepted}
    assert kinds >= {*NODE_KINDS, *EXTENDED_KINDS, MYSQL}, f"missing: {set(NODE_KINDS) - kinds}"


# -- the parsed nodes ----------------------------------------------------------------------


def test_create_stage_arguments() -> None:
    tree = only(
        "create or replace stage s 's3://b/p/' credentials = (aws_key_id = 'ak', region='x')"
        " file_format = (type = csv skip_header = 1) comment = 'c'"
    )
    assert isinstance(tree, CreateStage)
    assert tree.this.name == "s"
    assert tree.args.get("replace") is True and not tree.args.get("exists")
    assert tree.args["url"] == exp.Literal.string("s3://b/p/")
    connection = tree.args["connection"]
    assert [(option.key_name, option.value) for option in connection] == [
        ("AWS_KEY_ID", "ak"),
        ("REGION", "x"),
    ]
    file_format = tree.args["file_format"]
    assert [(option.key_name, option.value) for option in file_format] == [
        ("TYPE", "CSV"),
        ("SKIP_HEADER", "1"),
    ]
    assert tree.args["comment"] == exp.Literal.string("c")

    bare = only("CREATE STAGE IF NOT EXISTS Raw")
    assert isinstance(bare, CreateStage)
    assert bare.this.name == "Raw"
    assert bare.args.get("exists") is True and not bare.args.get("replace")
    for clause in ("url", "connection", "file_format", "comment"):
        assert bare.args.get(clause) is None, clause


def test_statement_nodes() -> None:
    drop = only("DROP STAGE IF EXISTS s")
    assert isinstance(drop, DropStage) and drop.this.name == "s" and drop.args.get("exists")
    assert not only("DROP STAGE s").args.get("exists")
    for sql in ("LIST @s", "LS @s", "list @s/x PATTERN = 'p'"):
        assert type(only(sql)) is ListFiles, sql
    for sql in ("REMOVE @s", "RM @s", "rm @s/x PATTERN = 'p'"):
        assert type(only(sql)) is RemoveFiles, sql
    assert only("LS @s/x PATTERN = '.*'").args["pattern"] == exp.Literal.string(".*")
    assert only("LIST @s").args.get("pattern") is None
    shown = only("SHOW STAGES LIKE 'a%'")
    assert isinstance(shown, ShowStages) and shown.args["like"] == exp.Literal.string("a%")
    assert only("SHOW STAGES").args.get("like") is None
    for sql in ("DESC STAGE s", "DESCRIBE STAGE s"):
        described = only(sql)
        assert isinstance(described, DescribeStage) and described.this.name == "s"
    assert type(only("DESC stage")) is exp.Describe
    download = only("PRESIGN @s/a.csv")
    assert isinstance(download, Presign) and not download.args.get("upload")
    assert download.args.get("expire") is None and download.args.get("content_type") is None
    upload = only("presign upload @s/a.csv content_type = 'text/csv' expire = 60")
    assert isinstance(upload, Presign) and upload.args.get("upload") is True
    assert upload.args["expire"] == exp.Literal.number("60")
    assert upload.args["content_type"] == exp.Literal.string("text/csv")
    assert (upload.this.stage, upload.this.path) == ("s", "a.csv")


@pytest.mark.parametrize(
    ("sql", "stage", "path", "has_slash"),
    [
        ("LIST @s", "s", "", False),
        ("LIST @s/", "s", "", True),
        ("LIST @~", "~", "", False),
        ("LIST @~/a/b", "~", "a/b", True),
        ("LIST @s/year=2024/month=01/", "s", "year=2024/month=01/", True),
        ("LIST @s/données/été.csv", "s", "données/été.csv", True),
        ("LIST '@s/a b'", "s", "a b", True),
        ("LIST '@s/it''s/'", "s", "it's/", True),
        ('REMOVE "@S/Dir/"', "S", "Dir/", True),
    ],
)
def test_stage_location(sql: str, stage: str, path: str, has_slash: bool) -> None:
    location = only(sql).this
    assert isinstance(location, StageLocation)
    assert (location.stage, location.path, location.has_slash) == (stage, path, has_slash)


def test_tab_and_newline_separators() -> None:
    tree = only("LIST\t@s/x\n  PATTERN\t=\n'.*'")
    assert to_sql(tree) == "LIST @s/x PATTERN = '.*'"
    with pytest.raises(SyntaxException, match=r"near 'FOO = 'x'' at line 3, column 3"):
        parse_statements("CREATE STAGE s\n  URL = 's3://b/'\n  FOO = 'x'")


# -- sqlglot must be the pure-Python build -------------------------------------------------

COMPILED_SQLGLOT = (
    "sqlglot's compiled build (sqlglotc, pulled in by the sqlglot[c] extra) is installed. It "
    "overlays mypyc-compiled modules onto sqlglot, and mypyc refuses to instantiate a Python "
    "subclass of a compiled class ('TypeError: interpreted classes cannot inherit from "
    "compiled'), which breaks the StageDB dialect: it subclasses sqlglot's Parser, Generator, "
    "Tokenizer and Expression. Remove it (uv pip uninstall sqlglotc) and depend on plain "
    "sqlglot."
)


def test_sqlglot_is_pure_python() -> None:
    assert importlib.util.find_spec("sqlglotc") is None, COMPILED_SQLGLOT
    assert str(sqlglot.parser.__file__).endswith(".py"), COMPILED_SQLGLOT
    # sqlglotc ships no importable module of its own: look at what it would replace.
    assert not getattr(sqlglot.tokens, "SQLGLOTC_INSTALLED", False), COMPILED_SQLGLOT
    subclasses = (StageDBParser, StageDBGenerator, StageDB.Tokenizer, CreateStage)
    for subclass in subclasses:
        for base in subclass.__mro__:
            if base.__module__.split(".")[0] == "sqlglot":
                assert inspect.getfile(base).endswith(".py"), f"{base}: {COMPILED_SQLGLOT}"
    # Instantiating is what a compiled base class refuses.
    StageDBParser()
    StageDBGenerator()
    StageDB.Tokenizer()
    CreateStage(this=exp.to_identifier("s"))


def test_the_engine_runs_every_stage_statement() -> None:
    from stagedb.engine import Engine

    for node in STAGE_STATEMENTS:
        assert Engine.handles(node()), node.__name__
