-- the catalogs the database knows, to tell a mistyped --license or --provider from an empty answer
select distinct license, provider
from pulls
order by license, provider
