-- the demo's pulls: how many ended how, and for which catalogs when not ok
select
    status,
    coalesce(resolution, '') as resolution,
    count(*) as pulls,
    case
        when status = 'ok' then count(distinct license || '/' || provider) || ' catalogs'
        else string_agg(distinct license || '/' || provider, ', ')
    end as catalogs
from pulls
group by status, resolution
order by pulls desc, status, resolution
