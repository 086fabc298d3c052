-- Node mysql2 3.24: connect to stagedb, query() and execute(). Captured with capture.py.
-- A '#COM_INIT_DB' first line is the database the client named in its handshake.
#COM_INIT_DB stagedb
SHOW DATABASES  -- expect: rows
#COM_STMT_PREPARE SELECT * FROM existing LIMIT 200
