"""The stagedb SQL dialect: MySQL plus the stage statements."""

from stagedb.sql.dialect import StageDB, parse_statements

__all__ = ["StageDB", "parse_statements"]
