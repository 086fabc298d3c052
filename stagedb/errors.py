"""Every error a stagedb user can cause, in one place.

Each error carries Databend's name and code (shown in the message text, so that
tools written for Databend keep working) and the MySQL errno and SQLSTATE a
MySQL client should see, plus the HTTP status the HTTP fronts answer with.
The fronts translate; the engine only raises.
"""

from __future__ import annotations

from typing import ClassVar


class StageDBError(Exception):
    """Base class: a Databend-style error with MySQL and HTTP mappings."""

    name: ClassVar[str] = "Internal"
    code: ClassVar[int] = 1001
    errno: ClassVar[int] = 1105
    sqlstate: ClassVar[str] = "HY000"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        text = self.message if self.message.endswith(".") else self.message + "."
        return f"{self.name}. Code: {self.code}, Text = {text}"


class SyntaxException(StageDBError):
    """The statement does not parse."""

    name, code, errno, sqlstate, http_status = "SyntaxException", 1005, 1064, "42000", 400


class BadArguments(StageDBError):
    """A statement parsed but one of its values is not acceptable."""

    name, code, errno, sqlstate, http_status = "BadArguments", 1006, 1210, "HY000", 400


class UnknownStage(StageDBError):
    """The named stage does not exist."""

    name, code, errno, sqlstate, http_status = "UnknownStage", 2501, 1051, "42S02", 404

    def __init__(self, stage: str) -> None:
        super().__init__(f"Stage '{stage}' does not exist")
        self.stage = stage


class StageAlreadyExists(StageDBError):
    """CREATE STAGE of a name that is taken."""

    name, code, errno, sqlstate, http_status = "StageAlreadyExists", 2502, 1050, "42S01", 409

    def __init__(self, stage: str) -> None:
        super().__init__(f"Stage '{stage}' already exists")
        self.stage = stage


class StagePermissionDenied(StageDBError):
    """An operation that no stage of this kind allows (e.g. dropping ``@~``)."""

    name, code, errno, sqlstate, http_status = "StagePermissionDenied", 2506, 1142, "42000", 403


class PermissionDenied(StageDBError):
    """The user lacks a privilege."""

    name, code, errno, sqlstate, http_status = "PermissionDenied", 1063, 1142, "42000", 403


class AuthenticateFailure(StageDBError):
    """Wrong or missing credentials."""

    name, code, errno, sqlstate, http_status = "AuthenticateFailure", 2201, 1045, "28000", 401


class UploadTooLarge(BadArguments):
    """An upload larger than the configured ``max_upload_size``."""

    http_status = 413


class MalformedBody(BadArguments):
    """A request body that is not what its headers announce (bad or truncated multipart)."""


class ClientDisconnected(BadArguments):
    """The client went away before the end of the body; nothing of it is kept."""


class RangeNotSatisfiable(BadArguments):
    """A ``Range`` that selects no byte of the file."""

    http_status = 416


class ExpectationFailed(BadArguments):
    """An ``Expect`` header other than ``100-continue``."""

    http_status = 417


class FileNotFound(StageDBError):
    """A file that is not in the stage."""

    name, code, errno, sqlstate, http_status = "StorageNotFound", 3001, 1105, "HY000", 404


class InvalidConfig(StageDBError):
    """A configuration value (file, flag or environment) is not acceptable."""

    name, code, errno, sqlstate, http_status = "InvalidConfig", 2002, 1105, "HY000", 500


class StorageUnsupported(StageDBError):
    """The storage behind a stage cannot do what was asked."""

    name, code, errno, sqlstate, http_status = "StorageUnsupported", 3902, 1235, "42000", 501


class StorageOther(StageDBError):
    """The storage failed; the message carries its reason (secrets redacted)."""

    name, code, errno, sqlstate, http_status = "StorageOther", 4000, 1105, "HY000", 502


class CatalogCorrupt(StageDBError):
    """A catalog record cannot be read back."""

    name, code, errno, sqlstate, http_status = "CatalogCorrupt", 4001, 1105, "HY000", 500


# -- tables (directory tables, information_schema) ------------------------------


class UnknownDatabase(StageDBError):
    """A database stagedb does not have."""

    name, code, errno, sqlstate, http_status = "UnknownDatabase", 1003, 1049, "42000", 404

    def __init__(self, database: str) -> None:
        super().__init__(f"Unknown database '{database}'")


class NoDatabaseSelected(StageDBError):
    """An unqualified table name with no current database (``USE stagedb`` first)."""

    name, code, errno, sqlstate, http_status = "NoDatabaseSelected", 1003, 1046, "3D000", 400


class UnknownTable(StageDBError):
    """A table that is not in its database."""

    name, code, errno, sqlstate, http_status = "UnknownTable", 1025, 1146, "42S02", 404

    def __init__(self, database: str, table: str) -> None:
        super().__init__(f"Table '{database}.{table}' doesn't exist")


class UnknownColumn(StageDBError):
    """A column (or alias) a query names that its tables do not have."""

    name, code, errno, sqlstate, http_status = "SemanticError", 1065, 1054, "42S22", 400


class QueryError(StageDBError):
    """A SELECT that parsed but cannot run (a wrong function, type or argument)."""

    name, code, errno, sqlstate, http_status = "SemanticError", 1065, 1105, "HY000", 400
