-- SQLAlchemy 2.1 + pymysql: inspect(engine) get_schema_names/get_table_names/get_columns/
-- get_pk_constraint/get_foreign_keys/get_indexes/get_table_comment, then pandas.read_sql.
-- Captured with capture.py.
-- A '#COM_INIT_DB' first line is the database the client named in its handshake.
#COM_INIT_DB stagedb
SET NAMES utf8mb4
SET AUTOCOMMIT = 0
SET NAMES utf8mb4
SELECT VERSION()
SELECT DATABASE()
SELECT @@transaction_isolation
SELECT @@sql_mode
SELECT @@lower_case_table_names
ROLLBACK
ROLLBACK
SHOW schemas  -- expect: rows
ROLLBACK
SHOW FULL TABLES FROM `stagedb`  -- expect: rows
ROLLBACK
SHOW CREATE TABLE `stagedb`.`existing`  -- expect: rows
ROLLBACK
ROLLBACK
ROLLBACK
ROLLBACK
ROLLBACK
DESCRIBE `stagedb`.`SELECT * FROM stagedb.existing`  -- expect: error 1146 (pandas asks whether its SQL text names a table: this error means no)
SELECT * FROM stagedb.existing  -- expect: rows
ROLLBACK
