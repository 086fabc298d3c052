"""Syntax-tree nodes for the stage statements (sqlglot expressions)."""

from __future__ import annotations

from typing import ClassVar

from sqlglot import expressions as exp

from stagedb.sql.user_nodes import USER_STATEMENTS


class StageOption(exp.Expression):
    """One ``KEY = value`` pair of a CONNECTION or FILE_FORMAT list."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expression": True}

    @property
    def key_name(self) -> str:
        """The option's key, upper-cased (keys are case-insensitive)."""
        return str(self.this.name).upper()

    @property
    def value(self) -> str:
        """The option's value as text (string literals unquoted)."""
        return str(self.expression.name)


class StageLocation(exp.Expression):
    """``@name[/path]`` or ``@~[/path]``: a stage and a raw path prefix inside it."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "path": False}

    @property
    def stage(self) -> str:
        """The stage name, ``~`` for the user stage."""
        return str(self.this.name)

    @property
    def path(self) -> str:
        """The path after the first ``/`` (empty when there is none)."""
        path = self.args.get("path")
        return str(path.name) if path is not None else ""

    @property
    def has_slash(self) -> bool:
        """Whether the location text had a ``/`` after the stage name."""
        return self.args.get("path") is not None


class CreateStage(exp.Expression):
    """``CREATE [OR REPLACE] STAGE [IF NOT EXISTS] name [URL = ...] ...``."""

    arg_types: ClassVar[dict[str, bool]] = {
        "this": True,
        "replace": False,
        "exists": False,
        "url": False,
        "connection": False,
        "file_format": False,
        "comment": False,
    }


class DropStage(exp.Expression):
    """``DROP STAGE [IF EXISTS] name``."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "exists": False}


class ListFiles(exp.Expression):
    """``LIST @location [PATTERN = 'regex']`` (``LS`` is a synonym)."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "pattern": False}


class RemoveFiles(exp.Expression):
    """``REMOVE @location [PATTERN = 'regex']`` (``RM`` is a synonym)."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "pattern": False}


class ShowStages(exp.Expression):
    """``SHOW STAGES [LIKE 'pattern']``."""

    arg_types: ClassVar[dict[str, bool]] = {"like": False}


class DescribeStage(exp.Expression):
    """``DESC[RIBE] STAGE name``."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True}


class Presign(exp.Expression):
    """``PRESIGN [DOWNLOAD | UPLOAD] @location [EXPIRE = seconds] [CONTENT_TYPE = '...']``."""

    arg_types: ClassVar[dict[str, bool]] = {
        "this": True,
        "upload": False,
        "expire": False,
        "content_type": False,
    }


# -- directory tables ---------------------------------------------------------------


class DirectoryTable(exp.Expression):
    """``DIRECTORY(@stage[/prefix]) [AS alias]`` in a FROM clause: the stage's files as a table."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "alias": False}

    @property
    def location(self) -> StageLocation:
        """The stage (and optional path prefix) whose files the table lists."""
        location: StageLocation = self.this
        return location

    @property
    def alias(self) -> str:
        """The alias the query gives the table ("" if none)."""
        alias = self.args.get("alias")
        return str(alias.name) if alias is not None else ""


STAGE_STATEMENTS: tuple[type[exp.Expression], ...] = (
    CreateStage,
    DropStage,
    ListFiles,
    RemoveFiles,
    ShowStages,
    DescribeStage,
    Presign,
    *USER_STATEMENTS,  # CREATE/ALTER/DROP USER, GRANT, REVOKE, SHOW USERS, SHOW GRANTS
)
"""Every statement node the engine executes."""


# -- programmatic access tokens (issue 5) ---------------------------------------------------


class CreateToken(exp.Expression):
    """``CREATE TOKEN name [EXPIRE = seconds]``: a bearer token for the HTTP port."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expire": False}


class ShowTokens(exp.Expression):
    """``SHOW TOKENS``: the session user's tokens (never their secrets)."""

    arg_types: ClassVar[dict[str, bool]] = {}


class DropToken(exp.Expression):
    """``DROP TOKEN [IF EXISTS] name``."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "exists": False}


TOKEN_STATEMENTS: tuple[type[exp.Expression], ...] = (CreateToken, ShowTokens, DropToken)
STAGE_STATEMENTS = (*STAGE_STATEMENTS, *TOKEN_STATEMENTS)
