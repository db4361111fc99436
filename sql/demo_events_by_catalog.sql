-- the demo's events per catalog and type
select
    license || '/' || provider as catalog,
    count(*) filter (where event_type = 'rate_changed') as rates,
    count(*) filter (where event_type = 'added') as added,
    count(*) filter (where event_type = 'removed') as removed,
    count(*) filter (where event_type = 'readded') as readded,
    count(*) filter (where event_type = 'limits_changed') as limits,
    count(*) filter (where event_type = 'renamed') as renamed
from catalog_events
group by license, provider
order by license, provider
