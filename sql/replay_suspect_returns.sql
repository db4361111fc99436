-- rebuild: how many models of the last applied pull that a suspect pull lacked a later pull lists
-- again; the three pulls' archived Parquet files are $files
with models as (
    select pull_id, model_id
    from archive_models($files)
)

select count(*) as returned_count
from models as applied
where applied.pull_id = $applied
    and applied.model_id not in (select model_id from models where pull_id = $suspect)
    and applied.model_id in (select model_id from models where pull_id = $later)
