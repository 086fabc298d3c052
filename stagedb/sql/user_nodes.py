"""Syntax-tree nodes for the user and privilege statements (sqlglot expressions)."""

from __future__ import annotations

from typing import ClassVar

from sqlglot import expressions as exp


class UserName(exp.Expression):
    """``'name'`` or ``'name'@'host'`` (stagedb users are not tied to a host: '%')."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "host": False}

    @property
    def host(self) -> str | None:
        """The host part as written, or None."""
        host = self.args.get("host")
        return str(host.name) if host is not None else None


class CreateUser(exp.Expression):
    """``CREATE USER [IF NOT EXISTS] user IDENTIFIED BY 'password'``."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "exists": False, "password": True}


class AlterUser(exp.Expression):
    """``ALTER USER [IF EXISTS] user IDENTIFIED BY 'password'``."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "exists": False, "password": True}


class DropUser(exp.Expression):
    """``DROP USER [IF EXISTS] user``."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "exists": False}


class GrantPrivileges(exp.Expression):
    """``GRANT privileges ON {STAGE name | *.*} TO user``.

    ``privileges`` is a list of Vars (``READ``, ``WRITE``, ``ALL``, ``CREATE STAGE``);
    ``stage`` is the stage name, absent for ``*.*``.
    """

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "privileges": True, "stage": False}

    @property
    def privilege_names(self) -> list[str]:
        """The privileges as written, upper-case."""
        return [str(p.name) for p in self.args.get("privileges") or []]


class RevokePrivileges(GrantPrivileges):
    """``REVOKE privileges ON {STAGE name | *.*} FROM user``."""


class ShowUsers(exp.Expression):
    """``SHOW USERS``."""

    arg_types: ClassVar[dict[str, bool]] = {}


class ShowGrants(exp.Expression):
    """``SHOW GRANTS [FOR user | FOR CURRENT_USER[()]]`` (no user: the current one)."""

    arg_types: ClassVar[dict[str, bool]] = {"this": False}


class SetPassword(exp.Expression):
    """``SET PASSWORD [FOR user | FOR CURRENT_USER()] = 'password'`` (MySQL's other way to
    write ``ALTER USER user IDENTIFIED BY 'password'``; no user: the session's own)."""

    arg_types: ClassVar[dict[str, bool]] = {"this": False, "password": True}

    def as_alter_user(self, current_user: str) -> AlterUser:
        """The ``ALTER USER`` this statement stands for, run by ``current_user``."""
        user = self.args.get("this")
        if user is None or isinstance(user, exp.CurrentUser):
            user = UserName(this=exp.Literal.string(current_user))
        return AlterUser(this=user.copy(), password=self.args["password"].copy())


USER_STATEMENTS: tuple[type[exp.Expression], ...] = (
    CreateUser,
    AlterUser,
    SetPassword,
    DropUser,
    GrantPrivileges,
    RevokePrivileges,
    ShowUsers,
    ShowGrants,
)
"""Every user and privilege statement node the engine executes."""
