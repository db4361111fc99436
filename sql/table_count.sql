-- how many tables the file has: none means a new file, some without qcat_schema an older qcat's
select count(*) from duckdb_tables()
