-- pymysql 1.2: connect to stagedb, a query. Captured with capture.py.
-- A '#COM_INIT_DB' first line is the database the client named in its handshake.
#COM_INIT_DB stagedb
SET NAMES utf8mb4
SET AUTOCOMMIT = 0
SHOW TABLES
