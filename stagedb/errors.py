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


class StageChangedDuringUpload(StageDBError):
    """The stage was dropped or replaced while a file was being written into it."""

    name, code, errno, sqlstate, http_status = "UnknownStage", 2501, 1051, "42S02", 409


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


class UnknownUser(StageDBError):
    """The named user does not exist."""

    name, code, errno, sqlstate, http_status = "UnknownUser", 2201, 1396, "HY000", 404

    def __init__(self, user: str) -> None:
        super().__init__(f"User '{user}'@'%' does not exist")
        self.user = user


class UserAlreadyExists(StageDBError):
    """CREATE USER of a name that is taken."""

    name, code, errno, sqlstate, http_status = "UserAlreadyExists", 2202, 1396, "HY000", 409

    def __init__(self, user: str) -> None:
        super().__init__(f"User '{user}'@'%' already exists")
        self.user = user


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


# -- programmatic access tokens and REST limits (issue 5) -------------------------------------


class UnknownToken(StageDBError):
    """DROP TOKEN of a token the user does not have."""

    name, code, errno, sqlstate, http_status = "UnknownToken", 2531, 1105, "HY000", 404


class TokenAlreadyExists(StageDBError):
    """CREATE TOKEN of a name the user already has."""

    name, code, errno, sqlstate, http_status = "TokenAlreadyExists", 2532, 1105, "HY000", 409


class TooManyRequests(StageDBError):
    """A user sent more REST requests than the configured rate allows."""

    name, code, errno, sqlstate, http_status = "TooManyRequests", 2533, 1226, "42000", 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnknownNamespace(StageDBError):
    """A REST path naming a database or schema other than the one stagedb answers for."""

    name, code, errno, sqlstate, http_status = "UnknownDatabase", 1003, 1049, "42000", 404


# --- Transport security and limits (issue 6): logins refused before any password check,
# and connections cut by a limit.  The MySQL front sends ``message`` as MySQL words it.


class LoginThrottled(StageDBError):
    """Too many failed logins for one user from one address: refused until the lockout ends."""

    name, code, errno, sqlstate, http_status = "AuthenticateFailure", 2201, 3955, "HY000", 429

    def __init__(self, user: str, address: str, retry_after: float, failures: int) -> None:
        seconds = max(1, round(retry_after + 0.49))
        super().__init__(
            f"Access denied for user '{user}'@'{address}'. Account is blocked for {seconds} "
            f"second(s) ({seconds} second(s) remaining) due to {failures} consecutive "
            f"failed logins"
        )
        self.retry_after = seconds


class InsecureTransport(StageDBError):
    """A plaintext login while ``require_tls`` is on."""

    name, code, errno, sqlstate, http_status = "AuthenticateFailure", 2201, 3159, "HY000", 403

    def __init__(self) -> None:
        super().__init__(
            "Connections using insecure transport are prohibited while "
            "--require_secure_transport=ON."
        )


class TooManyConnections(StageDBError):
    """A port is at its ``max_connections``."""

    name, code, errno, sqlstate, http_status = "TooManyConnections", 1040, 1040, "08004", 503

    def __init__(self, limit: int) -> None:
        super().__init__("Too many connections")
        self.limit = limit


class PacketTooLarge(StageDBError):
    """A MySQL packet over ``mysql_max_packet_size`` (MySQL's max_allowed_packet)."""

    name, code, errno, sqlstate, http_status = "PacketTooLarge", 1153, 1153, "08S01", 413

    def __init__(self) -> None:
        super().__init__("Got a packet bigger than 'max_allowed_packet' bytes")


class IdleTimeout(StageDBError):
    """A connection idle for longer than its timeout; the server closes it."""

    name, code, errno, sqlstate, http_status = "IdleTimeout", 4031, 4031, "HY000", 408

    def __init__(self) -> None:
        super().__init__(
            "The client was disconnected by the server because of inactivity. "
            "See wait_timeout and interactive_timeout for configuring this behavior."
        )


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


# -- MySQL connections: KILL, interrupted statements, write timeout ----------------


class UnknownThread(StageDBError):
    """KILL of a connection id the server does not have."""

    name, code, errno, sqlstate, http_status = "UnknownThread", 1094, 1094, "HY000", 404

    def __init__(self, connection_id: int) -> None:
        super().__init__(f"Unknown thread id: {connection_id}")


class KillDenied(StageDBError):
    """KILL of another user's connection by a user other than root."""

    name, code, errno, sqlstate, http_status = "KillDenied", 1095, 1095, "HY000", 403

    def __init__(self, connection_id: int) -> None:
        super().__init__(f"You are not owner of thread {connection_id}")


class QueryInterrupted(StageDBError):
    """A statement stopped by KILL QUERY."""

    name, code, errno, sqlstate, http_status = "QueryInterrupted", 1317, 1317, "70100", 499

    def __init__(self) -> None:
        super().__init__("Query execution was interrupted")


class WriteTimeout(StageDBError):
    """A client that read nothing of a result for ``mysql_write_timeout`` seconds."""

    name, code, errno, sqlstate, http_status = "WriteTimeout", 1161, 1161, "08S01", 408

    def __init__(self) -> None:
        super().__init__("Got timeout writing communication packets")
