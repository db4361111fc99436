-- rebuild: how many models of one pull another pull lacks (after a dismissed suspect pull)
select count(*) as missing_count
from history_models as earlier
where earlier.pull_id = $earlier
    and earlier.model_id not in (select model_id from history_models where pull_id = $later)
