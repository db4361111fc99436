-- events per catalog, to report what one load added
select license, provider, count(*) as events
from catalog_events
group by license, provider
