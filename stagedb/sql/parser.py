"""Parser for the stage statements, extending sqlglot's MySQL parser.

The stage statements are reached through sqlglot's own tables
(``STATEMENT_PARSERS``, ``SHOW_PARSERS``); every other statement is left to the
MySQL parser unchanged.  A stage location (``@s/dir/file.csv``) reaches the
parser as several adjacent tokens (``@``, ``s``, ``/``, ``dir`` ...), so it is
read back from the SQL text by joining tokens that touch, as sqlglot's
Snowflake parser does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from sqlglot import TokenType
from sqlglot import expressions as exp
from sqlglot.parsers.mysql import MySQLParser, _show_parser
from sqlglot.trie import new_trie

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

_OPTION_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECONDS = re.compile(r"[0-9]+")


def location_from_text(text: str) -> StageLocation:
    """Split ``@name[/path]`` into a :class:`StageLocation` node."""
    stage, slash, path = text[1:].partition("/")
    return StageLocation(
        this=exp.Var(this=stage),
        path=exp.Literal.string(path) if slash else None,
    )


class StageDBParser(MySQLParser):
    """MySQL's parser plus CREATE/DROP/DESC STAGE, LIST, REMOVE and SHOW STAGES."""

    STATEMENT_PARSERS: ClassVar[dict[TokenType, Callable[[Any], exp.Expr | None]]] = {
        **MySQLParser.STATEMENT_PARSERS,
        TokenType.CREATE: lambda self: self._parse_create_stage_or_default(),
        TokenType.DROP: lambda self: self._parse_drop_stage_or_default(),
        TokenType.DESCRIBE: lambda self: self._parse_describe_stage_or_default(),
        TokenType.DESC: lambda self: self._parse_describe_stage_or_default(),
        TokenType.LIST: lambda self: self._parse_list_files(),
    }

    WORD_STATEMENT_PARSERS: ClassVar[dict[str, Callable[[Any], exp.Expression]]] = {
        "REMOVE": lambda self: self._parse_remove_files(),
        "RM": lambda self: self._parse_remove_files(),
        "PRESIGN": lambda self: self._parse_presign(),
    }
    """Statements that start with a plain word (not a keyword token), keyed by the word."""

    SHOW_PARSERS: ClassVar[dict[str, Callable[[Any], exp.Expr | None]]] = {
        **MySQLParser.SHOW_PARSERS,
        "STAGES": lambda self: self._parse_show_stages(),
        # MySQL's synonyms of SHOW INDEX (Connector/J sends SHOW KEYS FROM t FROM db)
        "KEYS": _show_parser("INDEX", target="FROM"),
        "INDEXES": _show_parser("INDEX", target="FROM"),
        "EXTENDED INDEX": _show_parser("INDEX", target="FROM"),
        "EXTENDED KEYS": _show_parser("INDEX", target="FROM"),
    }
    SHOW_TRIE = new_trie(key.split(" ") for key in SHOW_PARSERS)

    # -- statement entry points -------------------------------------------------

    def _parse_create_stage_or_default(self) -> exp.Expression | None:
        index = self._index
        replace = self._match_text_seq("OR", "REPLACE")
        if not self._match_text_seq("STAGE"):
            self._retreat(index)
            return self._parse_create()
        exists = self._match_text_seq("IF", "NOT", "EXISTS")
        if replace and exists:
            self.raise_error("OR REPLACE and IF NOT EXISTS cannot be used together", self._prev)
        stage = CreateStage(this=self._parse_stage_name(), replace=replace, exists=exists)
        self._parse_create_stage_clauses(stage)
        return stage

    def _parse_drop_stage_or_default(self) -> exp.Expression | None:
        if not self._match_text_seq("STAGE"):
            return self._parse_drop()
        exists = self._match_text_seq("IF", "EXISTS")
        drop = DropStage(this=self._parse_stage_name(), exists=exists)
        self._expect_end()
        return drop

    def _parse_describe_stage_or_default(self) -> exp.Expression | None:
        # ``DESC stage`` alone (or ``DESC stage.t``) describes a table, as in MySQL;
        # ``EXPLAIN`` (the same token in MySQL) is never a stage statement.
        if (
            self._prev.text.upper() in ("DESC", "DESCRIBE")
            and self._curr
            and self._curr.text.upper() == "STAGE"
            and self._next
            and self._next.token_type != TokenType.DOT
        ):
            self._advance()
            describe = DescribeStage(this=self._parse_stage_name())
            self._expect_end()
            return describe
        return self._parse_describe()

    def _parse_statement(self) -> exp.Expr | None:
        token = self._curr
        if token and token.token_type == TokenType.VAR:
            parser = self.WORD_STATEMENT_PARSERS.get(token.text.upper())
            if parser is not None:
                self._advance()
                return parser(self)
            if self._at_statement_start():  # no MySQL statement starts with a plain word
                self.raise_error(f"Unknown statement '{token.text}'", token)
        return super()._parse_statement()

    def _at_statement_start(self) -> bool:
        """Whether the current token opens a statement (sqlglot also parses nested ones)."""
        previous = self._prev
        return not previous or previous.token_type == TokenType.SEMICOLON

    def _parse_presign(self) -> Presign:
        upload = False
        if self._match_text_seq("UPLOAD"):
            upload = True
        else:
            self._match_text_seq("DOWNLOAD")
        presign = Presign(this=self._parse_stage_location(), upload=upload)
        while self._curr and self._curr.token_type != TokenType.SEMICOLON:
            token = self._curr
            word = token.text.upper()
            if word == "EXPIRE":
                self._advance()
                self._match(TokenType.EQ)
                seconds = self._curr
                if not (
                    seconds
                    and seconds.token_type == TokenType.NUMBER
                    and _SECONDS.fullmatch(seconds.text)
                ):
                    self.raise_error("Expected a whole number of seconds after EXPIRE =")
                    break
                self._advance()
                expire = exp.Literal.number(seconds.text)
                self._set_once(presign, "expire", expire, token, "EXPIRE")
            elif word == "CONTENT_TYPE":
                self._advance()
                self._match(TokenType.EQ)
                content_type = self._expect_string("CONTENT_TYPE =")
                self._set_once(presign, "content_type", content_type, token, "CONTENT_TYPE")
            else:
                self.raise_error(f"Unexpected '{token.text}': expected EXPIRE or CONTENT_TYPE")
        return presign

    def _parse_remove_files(self) -> RemoveFiles:
        location, pattern = self._parse_location_and_pattern()
        return RemoveFiles(this=location, pattern=pattern)

    def _parse_list_files(self) -> ListFiles:
        location, pattern = self._parse_location_and_pattern()
        return ListFiles(this=location, pattern=pattern)

    def _parse_show_stages(self) -> ShowStages:
        like = None
        if self._match_text_seq("LIKE"):
            like = self._parse_string()
            if like is None:
                self.raise_error("Expected a string pattern after LIKE")
        self._expect_end()
        return ShowStages(like=like)

    # -- pieces -----------------------------------------------------------------

    def _parse_create_stage_clauses(self, stage: CreateStage) -> None:
        connection_token = None
        while self._curr and self._curr.token_type != TokenType.SEMICOLON:
            token = self._curr
            word = token.text.upper()
            if token.token_type == TokenType.STRING or word == "URL":
                if word == "URL" and token.token_type != TokenType.STRING:
                    self._advance()
                    self._match(TokenType.EQ)
                self._set_once(stage, "url", self._expect_string("URL"), token, "URL")
            elif word in ("CONNECTION", "CREDENTIALS"):
                self._advance()
                connection_token = connection_token or token
                options = self._parse_stage_options(word)
                self._set_once(stage, "connection", options, token, "CONNECTION (or CREDENTIALS)")
            elif word == "FILE_FORMAT":
                self._advance()
                options = self._parse_stage_options(word)
                self._set_once(stage, "file_format", options, token, word)
            elif word == "COMMENT":
                self._advance()
                self._match(TokenType.EQ)
                self._set_once(stage, "comment", self._expect_string("COMMENT"), token, word)
            else:
                self.raise_error(
                    f"Unexpected '{token.text}': expected URL, CONNECTION, FILE_FORMAT or COMMENT"
                )
        if connection_token is not None and stage.args.get("url") is None:
            self.raise_error(
                "CONNECTION needs a URL: CREATE STAGE name URL = '...' CONNECTION = (...)",
                connection_token,
            )

    def _set_once(
        self, node: exp.Expression, key: str, value: Any, token: Any, clause: str
    ) -> None:
        if node.args.get(key) is not None:
            self.raise_error(f"{clause} is given twice", token)
        node.set(key, value)

    def _expect_string(self, after: str) -> exp.Expression:
        if not self._match(TokenType.STRING):
            self.raise_error(f"Expected a quoted string after {after}")
        return exp.Literal.string(self._prev.text)

    def _parse_stage_options(self, clause: str) -> list[StageOption]:
        self._match(TokenType.EQ)
        if not self._match(TokenType.L_PAREN):
            self.raise_error(f"Expected ( after {clause} =")
        options: list[StageOption] = []
        seen: set[str] = set()
        while not self._match(TokenType.R_PAREN):
            key_token = self._curr
            if not key_token:
                self.raise_error(f"Expected ) to close {clause} (...)", self._prev)
                break
            if key_token.token_type == TokenType.STRING or not _OPTION_KEY.fullmatch(
                key_token.text
            ):
                self.raise_error(f"Expected an option name in {clause} (...)")
            self._advance()
            key = key_token.text.upper()
            if key in seen:
                self.raise_error(f"Option {key} is given twice in {clause} (...)", key_token)
            seen.add(key)
            if not self._match(TokenType.EQ):
                self.raise_error(f"Expected = after {key}")
            options.append(StageOption(this=exp.var(key), expression=self._parse_option_value(key)))
            self._match(TokenType.COMMA)
        return options

    def _parse_option_value(self, key: str) -> exp.Expression:
        token = self._curr
        if not token or token.token_type in (TokenType.R_PAREN, TokenType.COMMA):
            self.raise_error(f"Expected a value for {key}")
            return exp.null()
        self._advance()
        if token.token_type == TokenType.STRING:
            return exp.Literal.string(token.text)
        if token.token_type == TokenType.NUMBER:
            return exp.Literal.number(token.text)
        if _OPTION_KEY.fullmatch(token.text):
            return exp.var(token.text.upper())
        self.raise_error(f"Expected a string, number or word as the value of {key}", token)
        return exp.null()

    def _parse_stage_name(self) -> exp.Identifier:
        start = self._curr
        if not start or start.token_type == TokenType.SEMICOLON:
            self.raise_error("Expected a stage name", self._prev)
            return exp.to_identifier("")
        self._advance()
        if start.token_type == TokenType.IDENTIFIER and not self._is_connected():
            return exp.to_identifier(start.text, quoted=True)
        while self._curr and self._is_connected() and self._curr.token_type != TokenType.SEMICOLON:
            self._advance()
        return exp.to_identifier(self._find_sql(start, self._prev))

    def _parse_location_and_pattern(self) -> tuple[StageLocation, exp.Expression | None]:
        location = self._parse_stage_location()
        pattern = None
        if self._match_text_seq("PATTERN"):
            self._match(TokenType.EQ)
            pattern = self._expect_string("PATTERN =")
            if self._curr and self._curr.text.upper() == "PATTERN":
                self.raise_error("PATTERN is given twice")
            self._expect_end()
        else:
            self._expect_end(
                " or PATTERN = '<regex>'; a location with spaces must be quoted: '@stage/my dir/'"
            )
        return location, pattern

    def _expect_end(self, alternatives: str = "") -> None:
        """Stage statements take nothing after their last clause."""
        if self._curr and self._curr.token_type != TokenType.SEMICOLON:
            self.raise_error(
                f"Unexpected '{self._curr.text}': expected the end of the statement{alternatives}"
            )

    def _parse_stage_location(self) -> StageLocation:
        verb = self._prev
        return self._parse_location(
            (TokenType.SEMICOLON,),
            f"Expected a stage location after {verb.text.upper()}, such as @my_stage/path or @~",
        )

    def _parse_location(self, stops: tuple[TokenType, ...], expected: str) -> StageLocation:
        """A stage location: one ``'@...'`` string, or ``@`` and the tokens glued to it
        (the tokenizer splits ``@s/p~`` into pieces) up to a space or a ``stops`` token."""
        start = self._prev
        token = self._curr
        if token and token.token_type == TokenType.STRING and token.text.startswith("@"):
            self._advance()
            text = token.text
        elif token and token.text == "@":
            self._advance()
            while self._curr and self._is_connected() and self._curr.token_type not in stops:
                self._advance()
            text = self._find_sql(token, self._prev)
        else:
            self.raise_error(expected, token or start)
            text = "@"
        if text == "@" or text.startswith("@/"):
            self.raise_error("Expected a stage name after @", token or start)
        return location_from_text(text)

    # -- programmatic access tokens (issue 5): CREATE TOKEN, DROP TOKEN, SHOW TOKENS ----------

    STATEMENT_PARSERS = {
        **STATEMENT_PARSERS,
        TokenType.CREATE: lambda self: self._parse_create_token_or_default(),
        TokenType.DROP: lambda self: self._parse_drop_token_or_default(),
    }
    SHOW_PARSERS = {**SHOW_PARSERS, "TOKENS": lambda self: self._parse_show_tokens()}
    SHOW_TRIE = new_trie(key.split(" ") for key in SHOW_PARSERS)

    def _parse_create_token_or_default(self) -> exp.Expression | None:
        if not self._match_text_seq("TOKEN"):
            return self._parse_create_stage_or_default()
        token = CreateToken(this=self._parse_token_name())
        if self._curr and self._curr.text.upper() == "EXPIRE":
            self._advance()
            self._match(TokenType.EQ)
            seconds = self._curr
            if not (
                seconds
                and seconds.token_type == TokenType.NUMBER
                and _SECONDS.fullmatch(seconds.text)
            ):
                self.raise_error("Expected a whole number of seconds after EXPIRE =")
            else:
                self._advance()
                token.set("expire", exp.Literal.number(seconds.text))
            self._expect_end()
        else:
            self._expect_end(" or EXPIRE = <seconds>")
        return token

    def _parse_drop_token_or_default(self) -> exp.Expression | None:
        if not self._match_text_seq("TOKEN"):
            return self._parse_drop_stage_or_default()
        exists = self._match_text_seq("IF", "EXISTS")
        drop = DropToken(this=self._parse_token_name(), exists=exists)
        self._expect_end()
        return drop

    def _parse_token_name(self) -> exp.Identifier:
        if not self._curr or self._curr.token_type == TokenType.SEMICOLON:
            self.raise_error("Expected a token name", self._prev)
        return self._parse_stage_name()

    def _parse_show_tokens(self) -> ShowTokens:
        self._expect_end()
        return ShowTokens()

    # -- directory tables -----------------------------------------------------------

    def _parse_table(self, *args: Any, **kwargs: Any) -> exp.Expr | None:
        """A table reference; ``DIRECTORY(@stage[/prefix]) [[AS] alias]`` is a directory table."""
        if (
            self._curr
            and self._curr.text.upper() == "DIRECTORY"
            and self._next
            and self._next.token_type == TokenType.L_PAREN
        ):
            self._advance(2)
            table = DirectoryTable(this=self._parse_directory_location())
            if not self._match(TokenType.R_PAREN):
                self.raise_error("Expected ) after DIRECTORY(@stage")
            alias = self._parse_table_alias()
            if alias is not None:
                table.set("alias", alias)
            return table
        return super()._parse_table(*args, **kwargs)

    def _parse_directory_location(self) -> StageLocation:
        return self._parse_location(
            (TokenType.R_PAREN, TokenType.SEMICOLON),
            "Expected a stage after DIRECTORY(, such as DIRECTORY(@my_stage)",
        )
