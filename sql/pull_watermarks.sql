-- per catalog: the latest pull already loaded (later archive folders may hold pulls to load)
select license, provider, max(observed_at)::date as last_day, max(observed_at) as last_observed_at
from pulls
group by license, provider
