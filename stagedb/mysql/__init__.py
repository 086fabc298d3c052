"""The MySQL front: mysql-mimic sessions that hand stage statements to the engine."""

from stagedb.mysql.server import build_mysql_server

__all__ = ["build_mysql_server"]
