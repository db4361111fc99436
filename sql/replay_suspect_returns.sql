-- rebuild: how many models of the last applied pull that a suspect pull lacked a later pull lists again
select count(*) as returned_count
from history_models as applied
where applied.pull_id = $applied
    and applied.model_id not in (select model_id from history_models where pull_id = $suspect)
    and applied.model_id in (select model_id from history_models where pull_id = $later)
