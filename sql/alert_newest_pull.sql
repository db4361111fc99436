-- when the newest of the given pulls was observed
select max(observed_at)
from pulls
where pull_id in (select unnest($pull_ids))
