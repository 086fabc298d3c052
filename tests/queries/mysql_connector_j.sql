-- MySQL Connector/J 8 (DBeaver's default MySQL driver, many Java tools): connect, then
-- DatabaseMetaData with databaseTerm=CATALOG. From FACTS.md and Connector/J's sources
-- (not captured here: the driver is not packaged in Debian).
/* mysql-connector-j-8.4.0 (Revision: 1c3f5c149e0bfe31c7fbeb24e2d260cd890972c4) */SELECT @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection, @@character_set_results AS character_set_results, @@character_set_server AS character_set_server, @@collation_server AS collation_server, @@collation_connection AS collation_connection, @@init_connect AS init_connect, @@interactive_timeout AS interactive_timeout, @@license AS license, @@lower_case_table_names AS lower_case_table_names, @@max_allowed_packet AS max_allowed_packet, @@net_write_timeout AS net_write_timeout, @@performance_schema AS performance_schema, @@sql_mode AS sql_mode, @@system_time_zone AS system_time_zone, @@time_zone AS time_zone, @@transaction_isolation AS transaction_isolation, @@wait_timeout AS wait_timeout  -- expect: rows
SET character_set_results = NULL
SET autocommit=1
SELECT @@session.transaction_read_only  -- expect: rows
SHOW DATABASES  -- expect: rows
SHOW FULL TABLES FROM `stagedb` LIKE '%'  -- expect: rows
SHOW FULL COLUMNS FROM `existing` FROM `stagedb` LIKE '%'  -- expect: rows
SHOW KEYS FROM `existing` FROM `stagedb`  -- expect: rows
SELECT WORD FROM INFORMATION_SCHEMA.KEYWORDS WHERE RESERVED=1 ORDER BY WORD  -- expect: rows
SELECT * FROM `stagedb`.`existing` LIMIT 200  -- expect: rows
