-- A tour of stagedb for the mysql CLI:
--   mysql -h 127.0.0.1 -P 3307 -u root < examples/quickstart.sql
CREATE STAGE IF NOT EXISTS landing FILE_FORMAT = (TYPE = CSV SKIP_HEADER = 1) COMMENT = 'raw drops';
SHOW STAGES LIKE 'landing';
DESC STAGE landing;
LIST @landing;
LIST @~;
REMOVE @landing PATTERN = '.*[.]tmp';
DROP STAGE landing;
