-- which layout of tables and views this file has: a qcat that expects another one upgrades the file
-- in place if only views, constraints or derived values differ (history.UPGRADES), and otherwise
-- asks for `qcat rebuild`, which derives everything again from the archive
create table if not exists qcat_schema (version integer not null)
