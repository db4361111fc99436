-- per catalog: its latest loaded pull (later archive folders may hold pulls to load), when its last
-- applied pull was observed (none yet: the next valid pull is its baseline), how many models that
-- pull listed (its current models), and the suspect pull awaiting the next valid one
with loaded as (
    select license, provider, max(observed_at) as last_observed_at
    from pulls
    group by license, provider
)

select
    l.license,
    l.provider,
    l.last_observed_at,
    s.last_applied_at,
    coalesce(s.last_applied_model_count, 0) as current_count,
    s.pending_suspect_pull_id
from loaded as l
left join catalog_state as s using (license, provider)
