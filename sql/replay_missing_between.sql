-- rebuild: how many models of one pull another pull lacks (after a dismissed suspect pull); both
-- pulls' archived Parquet files are $files
with models as (
    select pull_id, model_id
    from archive_models($files)
)

select count(*) as missing_count
from models as earlier
where earlier.pull_id = $earlier
    and earlier.model_id not in (select model_id from models where pull_id = $later)
