-- events per catalog: the rebuild reports how many it derived
select license, provider, count(*) as events
from catalog_events
group by license, provider
