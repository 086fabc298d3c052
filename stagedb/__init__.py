"""stagedb: a stage engine reached through the MySQL wire protocol."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stagedb")
except PackageNotFoundError:  # running from a source tree without metadata
    __version__ = "0.0.0"
