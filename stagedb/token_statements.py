"""Running CREATE TOKEN, SHOW TOKENS and DROP TOKEN: programmatic access tokens.

A token belongs to the user who created it and acts as that user on the HTTP
port (``Authorization: Bearer <token>``).  CREATE TOKEN shows the secret once;
the catalog keeps only its hash (see ``stagedb.catalog.tokens``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from stagedb.catalog.tokens import TokenRecord, is_token_name, new_token, token_hash
from stagedb.errors import BadArguments, UnknownToken
from stagedb.results import Column, ColumnType, Done, Result, Rows
from stagedb.sql.nodes import CreateToken, DropToken, ShowTokens

if TYPE_CHECKING:
    from stagedb.engine import Engine, SessionInfo

DEFAULT_TOKEN_SECONDS = 15 * 24 * 3600
"""A token's life without EXPIRE: 15 days (Snowflake's default for access tokens)."""
MAX_TOKEN_SECONDS = 365 * 24 * 3600

CREATE_TOKEN_COLUMNS = (
    Column("name", ColumnType.TEXT, nullable=False),
    Column("token", ColumnType.TEXT, nullable=False),
    Column("expires_on", ColumnType.TEXT, nullable=False),
)
SHOW_TOKENS_COLUMNS = (
    Column("name", ColumnType.TEXT, nullable=False),
    Column("user", ColumnType.TEXT, nullable=False),
    Column("created_on", ColumnType.TEXT, nullable=False),
    Column("expires_on", ColumnType.TEXT, nullable=False),
    Column("status", ColumnType.TEXT, nullable=False),
)


def iso(seconds: float) -> str:
    """An epoch time as ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def _token_name(name: str) -> str:
    if not is_token_name(name):
        raise BadArguments(
            f"Invalid token name '{name}': a name starts with a letter or '_' and holds "
            f"letters, digits, '_' and '$'"
        )
    return name


async def create_token(engine: Engine, statement: CreateToken, session: SessionInfo) -> Result:
    """CREATE TOKEN: store the hash, answer the secret (the only time it is shown)."""
    name = _token_name(statement.this.name)
    expire_node = statement.args.get("expire")
    seconds = int(expire_node.name) if expire_node is not None else DEFAULT_TOKEN_SECONDS
    if not 1 <= seconds <= MAX_TOKEN_SECONDS:
        raise BadArguments(f"EXPIRE must be between 1 and {MAX_TOKEN_SECONDS} seconds")
    secret = new_token(session.user, name)
    now = time.time()
    record = TokenRecord(name, session.user, token_hash(secret), now, now + seconds)
    await engine.tokens.create(record)
    return Rows(CREATE_TOKEN_COLUMNS, [(name, secret, iso(record.expires_at))])


async def show_tokens(engine: Engine, _statement: ShowTokens, session: SessionInfo) -> Result:
    """SHOW TOKENS: the session user's tokens, expired ones included, never a secret."""
    now = time.time()
    rows = [
        (
            r.name,
            r.user,
            iso(r.created_at),
            iso(r.expires_at),
            "EXPIRED" if r.expired(now) else "ACTIVE",
        )
        for r in await engine.tokens.of_user(session.user)
    ]
    return Rows(SHOW_TOKENS_COLUMNS, rows)


async def drop_token(engine: Engine, statement: DropToken, session: SessionInfo) -> Result:
    """DROP TOKEN: the token stops working at once, on every server."""
    name = _token_name(statement.this.name)
    if await engine.tokens.drop(session.user, name):
        return Done()
    if statement.args.get("exists"):
        return Done(warnings=1)
    raise UnknownToken(f"Token '{name}' does not exist for user '{session.user}'")
