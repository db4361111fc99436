-- the demo's pulls: how many nights each outcome happened, and to which catalogs
select
    status,
    resolution,
    count(*) as pulls,
    string_agg(distinct license || '/' || provider, ', ' order by license || '/' || provider) as catalogs
from pulls
group by status, resolution
order by pulls desc
