"""A stage's files on an fsspec filesystem: listing, removal, atomic writes."""

from stagedb.storage.external import external_filesystem
from stagedb.storage.files import StageFiles
from stagedb.storage.filesystems import DataRoot
from stagedb.storage.listing import FileEntry

__all__ = ["DataRoot", "FileEntry", "StageFiles", "external_filesystem"]
