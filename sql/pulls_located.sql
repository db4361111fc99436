-- where the archive keeps these pulls' records
select pull_id, license, provider, observed_at
from pulls
where pull_id in (select unnest($pull_ids))
