"""The user and privilege statements in the ``stagedb`` dialect: parsing and canonical SQL.

They extend the stage dialect through sqlglot's own tables, as the stage
statements do (``STATEMENT_PARSERS``, ``SHOW_PARSERS``, ``TRANSFORMS``):
CREATE / ALTER / DROP USER, SET PASSWORD, GRANT, REVOKE, SHOW USERS and SHOW
GRANTS (the last two of which stock sqlglot cannot parse with MySQL's
``FOR 'user'@'host'``).  See
``grammar/stage.ebnf``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from sqlglot import TokenType
from sqlglot import expressions as exp
from sqlglot.trie import new_trie

from stagedb.sql.generator import StageDBGenerator, _name_sql
from stagedb.sql.parser import StageDBParser
from stagedb.sql.user_nodes import (
    AlterUser,
    CreateUser,
    DropUser,
    GrantPrivileges,
    RevokePrivileges,
    SetPassword,
    ShowGrants,
    ShowUsers,
    UserName,
)

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_NAME_TOKENS = (TokenType.STRING, TokenType.IDENTIFIER)
STAGE_PRIVILEGE_WORDS = ("READ", "WRITE")
PRIVILEGE_HINT = "READ, WRITE or ALL ON STAGE name, or CREATE STAGE ON *.*"
NATIVE_PLUGIN = "mysql_native_password"


class StageDBUserParser(StageDBParser):
    """The stage parser plus the user and privilege statements."""

    STATEMENT_PARSERS: ClassVar[dict[TokenType, Callable[[Any], exp.Expr | None]]] = {
        **StageDBParser.STATEMENT_PARSERS,
        TokenType.CREATE: lambda self: self._parse_create_user_or_default(),
        TokenType.DROP: lambda self: self._parse_drop_user_or_default(),
        TokenType.ALTER: lambda self: self._parse_alter_user_or_default(),
        TokenType.GRANT: lambda self: self._parse_grant_privileges(GrantPrivileges, "TO"),
        TokenType.REVOKE: lambda self: self._parse_grant_privileges(RevokePrivileges, "FROM"),
        TokenType.SET: lambda self: self._parse_set_password_or_default(),
    }

    SHOW_PARSERS: ClassVar[dict[str, Callable[[Any], exp.Expr | None]]] = {
        **StageDBParser.SHOW_PARSERS,
        "USERS": lambda self: self._parse_show_users(),
        "GRANTS": lambda self: self._parse_show_grants(),
    }
    SHOW_TRIE = new_trie(key.split(" ") for key in SHOW_PARSERS)

    def _parse_create_user_or_default(self) -> exp.Expression | None:
        if not self._match_text_seq("USER"):
            return self._parse_create_token_or_default()  # then stages, then MySQL
        exists = self._match_text_seq("IF", "NOT", "EXISTS")
        user = self._parse_user_name()
        return CreateUser(this=user, exists=exists, password=self._parse_identified_by())

    def _parse_alter_user_or_default(self) -> exp.Expression | None:
        if not self._match_text_seq("USER"):
            return self._parse_alter()
        exists = self._match_text_seq("IF", "EXISTS")
        user = self._parse_user_name()
        return AlterUser(this=user, exists=exists, password=self._parse_identified_by())

    def _parse_drop_user_or_default(self) -> exp.Expression | None:
        if not self._match_text_seq("USER"):
            return self._parse_drop_token_or_default()  # then stages, then MySQL
        exists = self._match_text_seq("IF", "EXISTS")
        drop = DropUser(this=self._parse_user_name(), exists=exists)
        self._expect_end()
        return drop

    def _parse_show_users(self) -> ShowUsers:
        self._expect_end()
        return ShowUsers()

    def _parse_show_grants(self) -> ShowGrants:
        user = self._parse_user_or_current() if self._match(TokenType.FOR) else None
        self._expect_end()
        return ShowGrants(this=user)

    def _parse_user_or_current(self) -> exp.Expression:
        """A user, or ``CURRENT_USER`` / ``CURRENT_USER()``."""
        if self._match(TokenType.CURRENT_USER):
            if self._match(TokenType.L_PAREN) and not self._match(TokenType.R_PAREN):
                self.raise_error("Expected ) after CURRENT_USER(")
            return exp.CurrentUser()
        return self._parse_user_name()

    def _parse_set_password_or_default(self) -> exp.Expression | None:
        """``SET PASSWORD [FOR user] = 'password'``; any other SET is MySQL's."""
        token = self._curr
        if not token or token.token_type in _NAME_TOKENS or token.text.upper() != "PASSWORD":
            return self._parse_set()
        self._advance()
        user = self._parse_user_or_current() if self._match(TokenType.FOR) else None
        if self._match_text_seq("TO", "RANDOM"):
            self.raise_error("stagedb does not make up passwords: write SET PASSWORD = 'password'")
        if not self._match_set((TokenType.EQ, TokenType.COLON_EQ)):
            self.raise_error("Expected = 'password' after SET PASSWORD [FOR user]")
        if self._curr and self._curr.text.upper() == "PASSWORD" and self._next:
            self.raise_error(
                "PASSWORD('...') is gone since MySQL 8.0: write SET PASSWORD = 'password'"
            )
        password = self._expect_string("SET PASSWORD =")
        self._expect_end()
        return SetPassword(this=user, password=password)

    def _parse_grant_privileges(
        self, node: type[GrantPrivileges], preposition: str
    ) -> GrantPrivileges:
        privileges = self._parse_privilege_list()
        if not self._match(TokenType.ON):
            self.raise_error(f"Expected ON after the privileges: {PRIVILEGE_HINT}")
        stage = None
        global_scope = privileges == ["CREATE STAGE"]
        if self._match_text_seq("STAGE"):
            if global_scope:
                self.raise_error("CREATE STAGE is granted ON *.*", self._prev)
            stage = self._parse_stage_name()
        elif self._match_all_scope():
            if not global_scope:
                self.raise_error("READ, WRITE and ALL are granted ON STAGE name", self._prev)
        else:
            self.raise_error("Expected STAGE name or *.* after ON")
        if not self._match_text_seq(preposition):
            self.raise_error(f"Expected {preposition} 'user'")
        if self._curr and self._curr.text.upper() == "ROLE":
            self.raise_error("stagedb has no roles: grant to a user")
        if (
            self._curr
            and self._curr.text.upper() == "USER"
            and self._next
            and self._next.token_type != TokenType.SEMICOLON
        ):
            self._advance()  # Databend's TO USER name
        user = self._parse_user_name()
        self._expect_end()
        return node(this=user, privileges=[exp.var(p) for p in privileges], stage=stage)

    def _match_all_scope(self) -> bool:
        """``*.*``."""
        star, dot = TokenType.STAR, TokenType.DOT
        return bool(self._match(star) and self._match(dot) and self._match(star))

    def _parse_privilege_list(self) -> list[str]:
        if self._match(TokenType.CREATE):
            if not self._match_text_seq("STAGE"):
                self.raise_error(f"Expected STAGE after CREATE: {PRIVILEGE_HINT}")
            return ["CREATE STAGE"]
        if self._match(TokenType.ALL):
            self._match_text_seq("PRIVILEGES")
            return ["ALL"]
        privileges: list[str] = []
        while True:
            token = self._curr
            word = token.text.upper() if token else ""
            if (
                not token
                or token.token_type == TokenType.STRING
                or word not in (STAGE_PRIVILEGE_WORDS)
            ):
                self.raise_error(f"Unknown privilege '{word}': expected {PRIVILEGE_HINT}")
                return privileges
            if word in privileges:
                self.raise_error(f"{word} is given twice", token)
            self._advance()
            privileges.append(word)
            if not self._match(TokenType.COMMA):
                return privileges

    def _parse_identified_by(self) -> exp.Expression:
        if not self._match_text_seq("IDENTIFIED"):
            self.raise_error("Expected IDENTIFIED BY 'password'")
        if self._match(TokenType.WITH):
            plugin = self._curr
            if not plugin or plugin.text.lower().strip("'\"`") != NATIVE_PLUGIN:
                self.raise_error(f"stagedb users authenticate with {NATIVE_PLUGIN} only")
            self._advance()
        if not self._match_text_seq("BY"):
            self.raise_error("Expected IDENTIFIED BY 'password'")
        password = self._expect_string("IDENTIFIED BY")
        self._expect_end()
        return password

    def _parse_user_name(self) -> UserName:
        name = self._parse_user_part("Expected a user name, such as 'bob'")
        host = None
        if self._curr and self._curr.token_type == TokenType.PARAMETER:
            self._advance()
            if self._match(TokenType.MOD):
                host = exp.Literal.string("%")
            else:
                host = self._parse_user_part("Expected a host after @, such as '%'")
        return UserName(this=name, host=host)

    def _parse_user_part(self, message: str) -> exp.Literal:
        token = self._curr
        if not token or not (token.token_type in _NAME_TOKENS or _WORD.fullmatch(token.text)):
            self.raise_error(message, token or self._prev)
            return exp.Literal.string("")
        self._advance()
        return exp.Literal.string(token.text)


def _user_sql(self: StageDBGenerator, e: exp.Expression) -> str:
    if isinstance(e, exp.CurrentUser):
        return "CURRENT_USER()"
    text = self.sql(e, "this")
    host = e.args.get("host")
    return f"{text}@{self.sql(host)}" if host is not None else text


def _exists(e: exp.Expression, words: str) -> str:
    return f" {words}" if e.args.get("exists") else ""


def _identified_sql(verb: str, exists: str) -> Callable[[StageDBGenerator, Any], str]:
    def generate(self: StageDBGenerator, e: CreateUser | AlterUser) -> str:
        user = _user_sql(self, e.this)
        return f"{verb}{_exists(e, exists)} {user} IDENTIFIED BY {self.sql(e, 'password')}"

    return generate


def _set_password_sql(self: StageDBGenerator, e: SetPassword) -> str:
    user = e.args.get("this")
    target = f" FOR {_user_sql(self, user)}" if user is not None else ""
    return f"SET PASSWORD{target} = {self.sql(e, 'password')}"


def _drop_user_sql(self: StageDBGenerator, e: DropUser) -> str:
    return f"DROP USER{_exists(e, 'IF EXISTS')} {_user_sql(self, e.this)}"


def _grant_sql(verb: str, preposition: str) -> Callable[[StageDBGenerator, Any], str]:
    def generate(self: StageDBGenerator, e: GrantPrivileges) -> str:
        stage = e.args.get("stage")
        scope = f"STAGE {_name_sql(self, stage)}" if stage is not None else "*.*"
        privileges = ", ".join(e.privilege_names)
        return f"{verb} {privileges} ON {scope} {preposition} {_user_sql(self, e.this)}"

    return generate


def _show_grants_sql(self: StageDBGenerator, e: ShowGrants) -> str:
    user = e.args.get("this")
    return "SHOW GRANTS" + (f" FOR {_user_sql(self, user)}" if user is not None else "")


class StageDBUserGenerator(StageDBGenerator):
    """The stage generator plus the canonical text of the user and privilege statements."""

    TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
        **StageDBGenerator.TRANSFORMS,
        CreateUser: _identified_sql("CREATE USER", "IF NOT EXISTS"),
        AlterUser: _identified_sql("ALTER USER", "IF EXISTS"),
        DropUser: _drop_user_sql,
        SetPassword: _set_password_sql,
        GrantPrivileges: _grant_sql("GRANT", "TO"),
        RevokePrivileges: _grant_sql("REVOKE", "FROM"),
        ShowUsers: lambda _self, _e: "SHOW USERS",
        ShowGrants: _show_grants_sql,
    }
