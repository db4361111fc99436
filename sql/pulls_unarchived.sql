-- pulls the database loaded whose records the archive no longer holds (given the archive's pull
-- ids): originals lost since, which a rebuild would leave out of the history
select pull_id, license, provider, observed_at
from pulls
where pull_id not in (select unnest($pull_ids))
order by observed_at, pull_id
