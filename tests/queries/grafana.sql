-- Grafana 11 MySQL data source (go-sql-driver/mysql): connect, health check, the query
-- builder's schema/table/column pickers, a table query. From FACTS.md and Grafana's
-- sources (not captured here: a Go service).
SET time_zone='+00:00'
SELECT 1  -- expect: rows
SELECT DATABASE()
SELECT DISTINCT TABLE_SCHEMA from information_schema.TABLES where TABLE_TYPE != 'SYSTEM VIEW' ORDER BY TABLE_SCHEMA  -- expect: rows
SELECT table_name FROM information_schema.tables WHERE table_schema = 'stagedb' ORDER BY table_name  -- expect: rows
SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'stagedb' AND table_name = 'existing' ORDER BY column_name  -- expect: rows
SELECT name AS metric, size AS value FROM stagedb.existing ORDER BY name LIMIT 50  -- expect: rows
