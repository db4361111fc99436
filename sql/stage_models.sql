-- the models of the pulls being loaded, read from their archived parquet files
create or replace temp table stage_models as
select * exclude (date)
from read_parquet($files, hive_partitioning = true, hive_types_autocast = false, union_by_name = true)
