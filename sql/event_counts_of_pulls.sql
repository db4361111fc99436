-- events per catalog that the given pulls produced (what one load added)
select license, provider, count(*) as events
from catalog_events
where pull_id in (select unnest($pull_ids))
group by license, provider
