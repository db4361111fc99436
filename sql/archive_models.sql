-- the models of archived pulls, read straight from their Parquet files (the one place that knows
-- how): paths are taken as they are, not as hive partitions (a name=... folder above the data
-- directory would otherwise become a column), and + 0.0 turns a -0.0 rate into 0.0, which it
-- equals, so that the nightly load and the rebuild store the same value. A temporary macro:
-- created by every writer's connection, and no part of the database's layout
create or replace temp macro archive_models(files) as table
select
    pull_id,
    model_id,
    name,
    input_cost_per_micro_credit + 0.0 as input_cost_per_micro_credit,
    output_cost_per_micro_credit + 0.0 as output_cost_per_micro_credit,
    context_window,
    max_output_tokens
from read_parquet(files, hive_partitioning = false)
