-- rebuild: on how many models a later pull disagrees with a suspect pull, against the last applied
-- pull: the models the suspect lacked that the later pull lists again, and the models the suspect
-- added that the later pull lacks again; the three pulls' archived Parquet files are $files
with models as (
    select pull_id, model_id
    from archive_models($files)
),

applied as (
    select model_id from models where pull_id = $applied
),

suspect as (
    select model_id from models where pull_id = $suspect
),

later as (
    select model_id from models where pull_id = $later
),

disagreements as (
    select model_id
    from applied
    where model_id not in (select model_id from suspect)
        and model_id in (select model_id from later)
    union all
    select model_id
    from suspect
    where model_id not in (select model_id from applied)
        and model_id not in (select model_id from later)
)

select count(*) as disagreeing_count
from disagreements
