-- mycli 2.30 (uv tool run): connect, the completion refresher (its own connection), a browse.
-- Captured with capture.py against stagedb (mycli -D stagedb on a terminal).
-- A '#COM_INIT_DB' first line is the database the client named in its handshake.
#COM_INIT_DB stagedb
SET NAMES utf8mb4
select connection_id()
SELECT @@version_comment, @@version
#COM_INIT_DB stagedb
SET NAMES utf8mb4
select connection_id()
SELECT @@version_comment, @@version
SHOW DATABASES  -- expect: rows
select TABLE_NAME, COLUMN_NAME from information_schema.columns where table_schema = 'stagedb' order by table_name,ordinal_position  -- expect: rows
SELECT DISTINCT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'stagedb' AND SEQ_IN_INDEX = 1 AND COLUMN_NAME IS NOT NULL ORDER BY TABLE_NAME, COLUMN_NAME  -- expect: rows
SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = 'stagedb' AND REFERENCED_TABLE_NAME IS NOT NULL
select TABLE_NAME, COLUMN_NAME, COLUMN_TYPE from information_schema.columns where table_schema = 'stagedb' and data_type = 'enum' order by table_name,ordinal_position
SELECT CONCAT("'", user, "'@'",host,"'") FROM mysql.user  -- xfail: no mysql.user table (mycli's completer ignores the error)
SELECT ROUTINE_NAME FROM INFORMATION_SCHEMA.ROUTINES WHERE ROUTINE_TYPE="FUNCTION" AND ROUTINE_SCHEMA = 'stagedb'
SELECT ROUTINE_NAME FROM INFORMATION_SCHEMA.ROUTINES WHERE ROUTINE_TYPE="PROCEDURE" AND ROUTINE_SCHEMA = 'stagedb'
SHOW CHARACTER SET  -- expect: rows
SHOW COLLATION  -- expect: rows
SELECT name from mysql.help_topic WHERE name like "SHOW %"
#COM_INIT_DB stagedb
SET NAMES utf8mb4
select connection_id()
SELECT @@version_comment, @@version
SHOW DATABASES  -- expect: rows
select TABLE_NAME, COLUMN_NAME from information_schema.columns where table_schema = 'information_schema' order by table_name,ordinal_position
SELECT DISTINCT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'information_schema' AND SEQ_IN_INDEX = 1 AND COLUMN_NAME IS NOT NULL ORDER BY TABLE_NAME, COLUMN_NAME
SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = 'information_schema' AND REFERENCED_TABLE_NAME IS NOT NULL
select TABLE_NAME, COLUMN_NAME, COLUMN_TYPE from information_schema.columns where table_schema = 'information_schema' and data_type = 'enum' order by table_name,ordinal_position
SELECT ROUTINE_NAME FROM INFORMATION_SCHEMA.ROUTINES WHERE ROUTINE_TYPE="FUNCTION" AND ROUTINE_SCHEMA = 'information_schema'
SELECT ROUTINE_NAME FROM INFORMATION_SCHEMA.ROUTINES WHERE ROUTINE_TYPE="PROCEDURE" AND ROUTINE_SCHEMA = 'information_schema'
SELECT * FROM existing LIMIT 200  -- expect: rows
SET NAMES utf8mb4
