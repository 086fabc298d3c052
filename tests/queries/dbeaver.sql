-- DBeaver 24 (MySQL plugin) on connect and while browsing a table, from FACTS.md and
-- DBeaver's MySQL plugin sources (not captured here: a desktop application).
SELECT @@GLOBAL.character_set_server,@@GLOBAL.collation_server  -- expect: rows
SELECT DATABASE()
SHOW ENGINES  -- expect: rows
SHOW CHARSET  -- expect: rows
SHOW COLLATION  -- expect: rows
SHOW PLUGINS  -- expect: rows
SHOW VARIABLES LIKE 'lower_case_table_names'  -- expect: rows
SHOW DATABASES  -- expect: rows
SHOW FULL TABLES FROM `stagedb`  -- expect: rows
SHOW TABLE STATUS FROM `stagedb`  -- expect: rows
SHOW TABLE STATUS FROM `stagedb` LIKE 'existing'  -- expect: rows
SELECT * FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='stagedb' AND TABLE_NAME='existing' ORDER BY ORDINAL_POSITION  -- expect: rows
SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='stagedb' AND TABLE_NAME='existing' ORDER BY INDEX_NAME,SEQ_IN_INDEX  -- expect: rows
SHOW INDEX FROM `stagedb`.`existing`  -- expect: rows
SHOW CREATE TABLE `stagedb`.`existing`  -- expect: rows
SELECT * FROM `stagedb`.`existing` LIMIT 0, 200  -- expect: rows
SELECT COUNT(*) FROM `stagedb`.`existing`  -- expect: rows
SHOW GRANTS FOR 'root'@'%'
