-- scd type 2: one row per stretch of unchanged values of a model in a catalog (values it goes back
-- to start a new row); [valid_from, valid_to). The
-- union of the current versions and the ended ones, kept apart so that a nightly load reads and
-- changes only the current ones however long the history grows. By name: a column added to both
-- tables in another order must not shift the others
create or replace view model_versions as
select * from model_versions_ended
union all by name
select * from model_versions_current
