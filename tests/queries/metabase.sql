-- Metabase 0.50 (MySQL driver on MariaDB Connector/J 2.7): connect, test, sync, a table
-- read. From FACTS.md and Metabase's MySQL driver (not captured here: a JVM service);
-- the Connector/J part is mariadb_connector_j.sql.
set autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')
SELECT @@max_allowed_packet,@@system_time_zone,@@time_zone,@@auto_increment_increment  -- expect: rows
SET @@session.time_zone = 'UTC'
SELECT 1  -- expect: rows
SELECT @@GLOBAL.time_zone AS global_tz, @@system_time_zone AS system_tz, time_format(timediff(now(), convert_tz(now(), @@GLOBAL.time_zone, '+00:00')), '%H:%i') AS 'offset'
SHOW GRANTS FOR CURRENT_USER()
SELECT SCHEMA_NAME TABLE_CAT FROM INFORMATION_SCHEMA.SCHEMATA ORDER BY 1  -- expect: rows
SELECT TRUE AS `_` FROM `stagedb`.`existing` WHERE 1 <> 1 LIMIT 0  -- expect: empty
SELECT 1 FROM DUAL WHERE 1=0  -- expect: empty
SELECT `stagedb`.`existing`.`name` AS `name`, `stagedb`.`existing`.`size` AS `size` FROM `stagedb`.`existing` LIMIT 10000  -- expect: rows
SELECT count(*) AS `count` FROM `stagedb`.`existing`  -- expect: rows
