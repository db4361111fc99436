-- how each pull of a run ended up after the shrink guard
select pull_id, license, provider, status, model_count, error, resolution
from pulls
where pull_id in (select unnest($pull_ids))
