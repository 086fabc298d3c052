-- mysqlclient (MySQLdb) 2.3: connect to stagedb, stat(), a query. Captured with capture.py.
-- A '#COM_INIT_DB' first line is the database the client named in its handshake.
#COM_INIT_DB stagedb
SET NAMES utf8mb4
#COM_STATISTICS
SHOW TABLES
