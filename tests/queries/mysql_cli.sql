-- mysql CLI (MariaDB 10.11 client): start, \s, USE stagedb with its completion load, a browse.
-- Captured with capture.py against stagedb.
select @@version_comment limit 1
select DATABASE(), USER() limit 1
select @@character_set_client, @@character_set_connection, @@character_set_server, @@character_set_database limit 1
#COM_STATISTICS
SELECT DATABASE()
#COM_INIT_DB stagedb
show databases  -- expect: rows
show tables  -- expect: rows
#COM_FIELD_LIST existing
#COM_FIELD_LIST stages
SHOW TABLES  -- expect: rows
SELECT * FROM existing LIMIT 200  -- expect: rows
SHOW DATABASES  -- expect: rows
