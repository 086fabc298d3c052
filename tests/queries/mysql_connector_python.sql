-- mysql-connector-python 26 (pure): connect, cmd_statistics(), a prepared cursor.
-- Captured with capture.py.
SET NAMES 'utf8mb4' COLLATE 'utf8mb4_0900_ai_ci'
SET @@session.autocommit = ON
#COM_STATISTICS
SHOW DATABASES
#COM_STMT_PREPARE SELECT name, size FROM stagedb.existing WHERE name = ?
