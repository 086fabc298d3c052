"""SQL generation for the stage statements: the canonical text of each node."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from sqlglot import expressions as exp
from sqlglot.generators.mysql import MySQLGenerator

from stagedb.sql.nodes import (
    CreateStage,
    CreateToken,
    DescribeStage,
    DirectoryTable,
    DropStage,
    DropToken,
    ListFiles,
    Presign,
    RemoveFiles,
    ShowStages,
    ShowTokens,
    StageLocation,
    StageOption,
)

_BARE_LOCATION = re.compile(r"@[^\s'\"`;#\\]+")
_BARE_NAME = re.compile(r"[_A-Za-z][_$A-Za-z0-9]*")


def _name_sql(self: MySQLGenerator, name: exp.Expression) -> str:
    text = name.name
    if text == "~" or _BARE_NAME.fullmatch(text):
        return text
    return self.sql(exp.to_identifier(text, quoted=True))


def _location_sql(self: MySQLGenerator, e: StageLocation) -> str:
    text = "@" + e.stage + ("/" + e.path if e.has_slash else "")
    if _BARE_LOCATION.fullmatch(text) and "--" not in text and "/*" not in text:
        return text
    return self.sql(exp.Literal.string(text))


def _options_sql(self: MySQLGenerator, keyword: str, options: list[StageOption] | None) -> str:
    if options is None:
        return ""
    body = ", ".join(f"{o.key_name} = {self.sql(o, 'expression')}" for o in options)
    return f" {keyword} = ({body})"


def _create_stage_sql(self: MySQLGenerator, e: CreateStage) -> str:
    parts = ["CREATE"]
    if e.args.get("replace"):
        parts.append(" OR REPLACE")
    parts.append(" STAGE")
    if e.args.get("exists"):
        parts.append(" IF NOT EXISTS")
    parts.append(" " + _name_sql(self, e.this))
    if e.args.get("url") is not None:
        parts.append(f" URL = {self.sql(e, 'url')}")
    parts.append(_options_sql(self, "CONNECTION", e.args.get("connection")))
    parts.append(_options_sql(self, "FILE_FORMAT", e.args.get("file_format")))
    if e.args.get("comment") is not None:
        parts.append(f" COMMENT = {self.sql(e, 'comment')}")
    return "".join(parts)


def _drop_stage_sql(self: MySQLGenerator, e: DropStage) -> str:
    exists = " IF EXISTS" if e.args.get("exists") else ""
    return f"DROP STAGE{exists} {_name_sql(self, e.this)}"


def _files_sql(verb: str) -> Callable[[MySQLGenerator, Any], str]:
    def generate(self: MySQLGenerator, e: ListFiles | RemoveFiles) -> str:
        pattern = e.args.get("pattern")
        suffix = f" PATTERN = {self.sql(pattern)}" if pattern is not None else ""
        return f"{verb} {self.sql(e, 'this')}{suffix}"

    return generate


def _show_stages_sql(self: MySQLGenerator, e: ShowStages) -> str:
    like = e.args.get("like")
    return "SHOW STAGES" + (f" LIKE {self.sql(like)}" if like is not None else "")


def _describe_stage_sql(self: MySQLGenerator, e: DescribeStage) -> str:
    return f"DESCRIBE STAGE {_name_sql(self, e.this)}"


def _presign_sql(self: MySQLGenerator, e: Presign) -> str:
    action = "UPLOAD" if e.args.get("upload") else "DOWNLOAD"
    parts = [f"PRESIGN {action} {self.sql(e, 'this')}"]
    if e.args.get("expire") is not None:
        parts.append(f"EXPIRE = {self.sql(e, 'expire')}")
    if e.args.get("content_type") is not None:
        parts.append(f"CONTENT_TYPE = {self.sql(e, 'content_type')}")
    return " ".join(parts)


# -- programmatic access tokens (issue 5) ---------------------------------------------------


def _create_token_sql(self: MySQLGenerator, e: CreateToken) -> str:
    expire = f" EXPIRE = {self.sql(e, 'expire')}" if e.args.get("expire") is not None else ""
    return f"CREATE TOKEN {_name_sql(self, e.this)}{expire}"


def _drop_token_sql(self: MySQLGenerator, e: DropToken) -> str:
    exists = " IF EXISTS" if e.args.get("exists") else ""
    return f"DROP TOKEN{exists} {_name_sql(self, e.this)}"


TOKEN_TRANSFORMS: dict[type[exp.Expr], Callable[..., str]] = {
    CreateToken: _create_token_sql,
    DropToken: _drop_token_sql,
    ShowTokens: lambda _self, _e: "SHOW TOKENS",
}


def _directory_table_sql(self: MySQLGenerator, e: DirectoryTable) -> str:
    alias = e.args.get("alias")
    suffix = f" AS {self.sql(alias)}" if alias is not None else ""
    return f"DIRECTORY({self.sql(e, 'this')}){suffix}"


class StageDBGenerator(MySQLGenerator):
    """MySQL's generator plus the canonical text of every stage statement."""

    TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
        **MySQLGenerator.TRANSFORMS,
        CreateStage: _create_stage_sql,
        DropStage: _drop_stage_sql,
        ListFiles: _files_sql("LIST"),
        RemoveFiles: _files_sql("REMOVE"),
        ShowStages: _show_stages_sql,
        DescribeStage: _describe_stage_sql,
        StageLocation: _location_sql,
        Presign: _presign_sql,
        **TOKEN_TRANSFORMS,
        DirectoryTable: _directory_table_sql,
    }
