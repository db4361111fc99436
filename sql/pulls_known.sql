-- which of these pulls are loaded already
select pull_id
from pulls
where pull_id in (select unnest($pull_ids))
