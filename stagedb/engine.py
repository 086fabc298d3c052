"""The engine: a parsed stage statement in, a result out. It knows no protocol."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlglot import expressions as exp

from stagedb.catalog.records import StageRecord, StageType
from stagedb.catalog.stages import StageCatalog
from stagedb.catalog.tokens import TokenCatalog
from stagedb.catalog.users import UserCatalog
from stagedb.errors import (
    BadArguments,
    FileNotFound,
    StageAlreadyExists,
    StageDBError,
    StorageOther,
    SyntaxException,
    UnknownStage,
)
from stagedb.presign import MAX_EXPIRE_SECONDS, PresignedUrl, Presigner
from stagedb.privileges import CREATE_STAGE, Access, Need
from stagedb.results import Column, ColumnType, Done, Result, Rows, format_timestamp
from stagedb.sql.nodes import (
    CreateStage,
    CreateToken,
    DescribeStage,
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
from stagedb.stages import (
    USER_STAGE,
    check_stage_name,
    file_format_options,
    like_to_regex,
    stage_row,
    user_stage_record,
)
from stagedb.storage.external import (
    canonical_connection,
    check_location,
    normalize_external_url,
)
from stagedb.storage.external_cache import ExternalFilesystems
from stagedb.storage.files import StageFiles
from stagedb.storage.filesystems import DataRoot
from stagedb.storage.paths import (
    check_file_path,
    check_relative_path,
    internal_stage_dir,
    new_files_dir,
    user_stage_dir,
)
from stagedb.storage.writer import FileWriter
from stagedb.tables.columns import DIRECTORY_COLUMNS, STAGES_COLUMNS, result_columns
from stagedb.token_statements import create_token, drop_token, show_tokens
from stagedb.user_statements import USER_RUNNERS
from stagedb.users import Users

logger = logging.getLogger(__name__)

LIST_COLUMNS = result_columns(DIRECTORY_COLUMNS)
REMOVE_COLUMNS = (Column("name", ColumnType.TEXT, nullable=False),)
STAGE_COLUMNS = result_columns(STAGES_COLUMNS)


@dataclass(frozen=True)
class SessionInfo:
    """Who runs a statement."""

    user: str


class Engine:
    """Runs stage statements against the catalog and the stages' storage."""

    def __init__(self, root: DataRoot, presigner: Presigner, users: Users | None = None) -> None:
        self.root = root
        self.catalog = StageCatalog(root)
        self.presigner = presigner
        self.tokens = TokenCatalog(root)
        self.users = users if users is not None else Users(UserCatalog(root))
        self.access = Access(self.users)
        self.external = ExternalFilesystems()

    @classmethod
    def handles(cls, statement: exp.Expression) -> bool:
        """Whether ``statement`` is a stage statement this engine runs."""
        return type(statement) in cls._RUNNERS

    async def execute(self, statement: exp.Expression, session: SessionInfo) -> Result:
        """Run one stage statement."""
        run = self._RUNNERS.get(type(statement))
        if run is None:
            raise SyntaxException(f"Not a stage statement: {type(statement).__name__}")
        return await run(self, statement, session)

    # -- stage resolution --------------------------------------------------------

    async def stage_files(
        self, stage: str, session: SessionInfo, need: Need = Need.READ
    ) -> StageFiles:
        """The files of ``stage`` (``~`` is the session user's own stage).

        Raises UnknownStage, or PermissionDenied unless the user may do ``need``
        (READ unless told: handing out a stage's files is reading it).
        """
        if stage == USER_STAGE:
            await self.access.require_user_stage(session.user)
            return StageFiles(self.root.subdir(user_stage_dir(session.user)))
        check_stage_name(stage, "used")
        record = await self.catalog.get(stage)
        if record is None:
            raise UnknownStage(stage)
        await self.access.require_stage(session.user, record, need)
        return await self.files_of(record)

    async def files_of(self, record: StageRecord) -> StageFiles:
        """The files of a catalogued stage.

        An external stage's filesystem is built in a worker thread (credential
        look-ups, client set-up) and reused for its location (``self.external``).
        """
        if record.stage_type is StageType.EXTERNAL and record.url is not None:
            return StageFiles(await self.external.get(record.url, record.connection))
        return StageFiles(self.root.subdir(internal_stage_dir(record.name, record.files_dir)))

    # -- files, for the fronts that move bytes ---------------------------------------

    async def file_writer(self, stage: str, session: SessionInfo) -> FileWriter:
        """Opens files of ``stage`` for fronts that receive bytes in a worker thread
        (needs WRITE, like every upload)."""
        return FileWriter(await self.stage_files(stage, session, Need.WRITE))

    async def file_size(self, stage: str, path: str, session: SessionInfo) -> int:
        """The size of a file in a stage; FileNotFound if there is none."""
        check_file_path(path)
        files = await self.stage_files(stage, session, Need.READ)
        try:
            return await files.size(path)
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFound(f"File '{path}' does not exist in stage '{stage}'") from None

    async def read_file(
        self, stage: str, path: str, session: SessionInfo, start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Stream a byte range of a file in a stage."""
        files = await self.stage_files(stage, session, Need.READ)
        return files.read(path, start, end)

    # -- programmatic access tokens (issue 5) -------------------------------------------

    async def token_user(self, token: str) -> str:
        """The user a bearer token acts as; AuthenticateFailure if unknown, dropped or expired."""
        return await self.tokens.verify(token)

    # -- statements --------------------------------------------------------------

    async def _create_stage(self, statement: CreateStage, session: SessionInfo) -> Result:
        name = check_stage_name(statement.this.name, "created")
        existing = await self.catalog.get(name) if statement.args.get("replace") else None
        if existing is not None:
            await self.access.require_stage(session.user, existing, Need.OWNERSHIP)
        else:
            await self.access.require_global(session.user, CREATE_STAGE)
        record = await self._record_from(statement, name, session)
        if record.stage_type is StageType.EXTERNAL:
            await self._check_location(record)
        if statement.args.get("replace"):
            previous = await self.catalog.replace(record)
            if previous is not None:
                await self._purge_dropped(previous)
            return Done()
        try:
            await self.catalog.create(record)
        except StageAlreadyExists:
            if statement.args.get("exists"):
                return Done(warnings=1)
            raise
        return Done()

    async def _purge_dropped(self, record: StageRecord) -> None:
        """Delete the files of a stage whose record is gone (dropped or replaced).

        The record goes first: an upload still writing into the stage then
        lands in a directory no stage refers to, never in a stage created
        later under the same name.  A failure here only leaves such a
        directory, for the sweep at the next start (stagedb.orphans).
        """
        if record.stage_type is not StageType.INTERNAL:
            return
        try:
            await (await self.files_of(record)).purge()
        except (OSError, StageDBError) as error:
            logger.warning("Files of dropped stage %s not all deleted: %s", record.name, error)

    async def _record_from(
        self, statement: CreateStage, name: str, session: SessionInfo
    ) -> StageRecord:
        url_node = statement.args.get("url")
        connection = _options(statement.args.get("connection"))
        file_format = file_format_options(
            {k.upper(): v for k, v in _options(statement.args.get("file_format")).items()}
        )
        comment_node = statement.args.get("comment")
        comment = comment_node.name if comment_node is not None else None
        if url_node is None:
            return StageRecord(
                name=name,
                stage_type=StageType.INTERNAL,
                files_dir=new_files_dir(name),
                file_format=file_format,
                comment=comment,
                creator=session.user,
                owner=session.user,
            )
        _, url = normalize_external_url(url_node.name)
        return StageRecord(
            name=name,
            stage_type=StageType.EXTERNAL,
            url=url,
            connection=canonical_connection(url, connection),
            file_format=file_format,
            comment=comment,
            creator=session.user,
            owner=session.user,
        )

    async def _check_location(self, record: StageRecord) -> None:
        assert record.url is not None
        files = await self.files_of(record)
        await asyncio.to_thread(check_location, files.fs, record.url, record.connection)

    async def _drop_stage(self, statement: DropStage, session: SessionInfo) -> Result:
        name = check_stage_name(statement.this.name, "dropped")
        record = await self.catalog.get(name)
        if record is None:
            if statement.args.get("exists"):
                return Done(warnings=1)
            raise UnknownStage(name)
        await self.access.require_stage(session.user, record, Need.OWNERSHIP)
        dropped = await self.catalog.drop(name)
        if dropped is None:
            if statement.args.get("exists"):
                return Done(warnings=1)
            raise UnknownStage(name)  # another connection dropped it first
        await self._purge_dropped(dropped)
        return Done()

    async def _list_files(self, statement: ListFiles, session: SessionInfo) -> Result:
        location: StageLocation = statement.this
        prefix = check_relative_path(location.path)
        pattern = _compile_pattern(statement.args.get("pattern"))
        files = await self.stage_files(location.stage, session, Need.READ)
        return Rows(LIST_COLUMNS, _list_rows(files, prefix, pattern))

    async def _remove_files(self, statement: RemoveFiles, session: SessionInfo) -> Result:
        location: StageLocation = statement.this
        prefix = check_relative_path(location.path)
        pattern = _compile_pattern(statement.args.get("pattern"))
        files = await self.stage_files(location.stage, session, Need.WRITE)
        removed, failures = await files.remove(prefix, pattern)
        if failures:
            shown = "; ".join(f"{f.name}: {f.reason}" for f in failures[:10])
            more = f" and {len(failures) - 10} more" if len(failures) > 10 else ""
            raise StorageOther(
                f"REMOVE could not delete {len(failures)} file(s) ({shown}{more}); "
                f"{len(removed)} file(s) were removed"
            )
        return Rows(REMOVE_COLUMNS, [(name,) for name in removed])

    async def _show_stages(self, statement: ShowStages, session: SessionInfo) -> Result:
        records = await self.access.visible(session.user, await self.catalog.all_stages())
        like = statement.args.get("like")
        if like is not None:
            regex = like_to_regex(like.name)
            records = [r for r in records if regex.fullmatch(r.name)]
        return Rows(STAGE_COLUMNS, [stage_row(r) for r in records])

    async def _presign(self, statement: Presign, session: SessionInfo) -> Result:
        location: StageLocation = statement.this
        path = check_file_path(location.path)
        expire_node = statement.args.get("expire")
        expire = int(expire_node.name) if expire_node is not None else DEFAULT_PRESIGN_SECONDS
        if not 1 <= expire <= MAX_EXPIRE_SECONDS:
            raise BadArguments(f"EXPIRE must be between 1 and {MAX_EXPIRE_SECONDS} seconds")
        content_type_node = statement.args.get("content_type")
        content_type = content_type_node.name if content_type_node is not None else None
        upload = bool(statement.args.get("upload"))
        files = await self.stage_files(location.stage, session, Need.WRITE if upload else Need.READ)
        native = await files.presigned_url(path, upload, expire, content_type)
        method = "PUT" if upload else "GET"
        if native is not None:
            signed = PresignedUrl(
                method, {"Content-Type": content_type} if content_type and upload else {}, native
            )
        else:
            signed = self.presigner.sign(
                method, location.stage, path, session.user, expire, content_type
            )
        headers = json.dumps(signed.headers, sort_keys=True)
        return Rows(PRESIGN_COLUMNS, [(signed.method, headers, signed.url)])

    async def _describe_stage(self, statement: DescribeStage, session: SessionInfo) -> Result:
        name = statement.this.name
        if name == USER_STAGE:
            return Rows(STAGE_COLUMNS, [stage_row(user_stage_record(session.user))])
        check_stage_name(name, "described")
        record = await self.catalog.get(name)
        if record is None:
            return Rows(STAGE_COLUMNS, [])
        await self.access.require_stage(session.user, record, Need.ANY)
        return Rows(STAGE_COLUMNS, [stage_row(record)])

    _RUNNERS: ClassVar[dict[type[exp.Expression], Callable[..., Awaitable[Result]]]] = {
        CreateStage: _create_stage,
        DropStage: _drop_stage,
        ListFiles: _list_files,
        RemoveFiles: _remove_files,
        ShowStages: _show_stages,
        DescribeStage: _describe_stage,
        Presign: _presign,
        # programmatic access tokens (issue 5)
        CreateToken: create_token,
        ShowTokens: show_tokens,
        DropToken: drop_token,
        **USER_RUNNERS,  # users and privileges: stagedb/user_statements.py
    }


DEFAULT_PRESIGN_SECONDS = 3600
PRESIGN_COLUMNS = (
    Column("method", ColumnType.TEXT, nullable=False),
    Column("headers", ColumnType.TEXT, nullable=False),
    Column("url", ColumnType.TEXT, nullable=False),
)


def _options(options: list[StageOption] | None) -> dict[str, str]:
    return {option.key_name: option.value for option in options or []}


def _compile_pattern(node: exp.Expression | None) -> re.Pattern[str] | None:
    if node is None:
        return None
    try:
        return re.compile(node.name)
    except re.error as error:
        raise SyntaxException(f"Invalid PATTERN regex '{node.name}': {error}") from None


async def _list_rows(
    files: StageFiles, prefix: str, pattern: re.Pattern[str] | None
) -> AsyncIterator[tuple[Any, ...]]:
    start = len(prefix)
    try:
        async for batch in files.iter_files(prefix):
            for entry in batch:
                if pattern is not None and not pattern.fullmatch(entry.name[start:]):
                    continue
                yield (
                    entry.name,
                    entry.size,
                    entry.md5,
                    format_timestamp(entry.modified_ns),
                    None,
                )
    except StageDBError:
        raise
    except OSError as error:
        raise StorageOther(f"Listing failed: {error.strerror or error}") from None
