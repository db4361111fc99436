-- catalog events of the given pulls that may alert: only pulls qcat pulled itself (imported history never alerts)
select e.*
from catalog_events as e
join pulls as p on p.pull_id = e.pull_id
where e.pull_id in (select unnest($pull_ids)) and p.origin = 'live'
order by e.license, e.provider, e.model_id, e.event_type
