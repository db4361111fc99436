-- per catalog: its latest pull, how many models it lists now, and what changed in it since $since
with last_pulls as (
    select
        license,
        provider,
        max(observed_at) as last_pull_at,
        arg_max(status, (observed_at, pull_id)) as last_status
    from pulls
    group by license, provider
),

listed as (
    select license, provider, count(*) as models
    from current_rates
    group by license, provider
),

recent as (
    select
        license,
        provider,
        count(*) filter (where event_type = 'rate_changed') as rate_changed,
        count(*) filter (where event_type = 'added') as added,
        count(*) filter (where event_type = 'removed') as removed,
        count(*) filter (where event_type = 'readded') as readded,
        count(*) filter (where event_type in ('renamed', 'limits_changed')) as other
    from catalog_events
    where observed_at >= $since
    group by license, provider
)

select
    p.license,
    p.provider,
    coalesce(l.models, 0) as models,
    p.last_pull_at,
    p.last_status,
    s.last_applied_at,
    coalesce(r.rate_changed, 0) as rate_changed,
    coalesce(r.added, 0) as added,
    coalesce(r.removed, 0) as removed,
    coalesce(r.readded, 0) as readded,
    coalesce(r.other, 0) as other
from last_pulls as p
left join listed as l using (license, provider)
left join catalog_state as s using (license, provider)
left join recent as r using (license, provider)
order by p.license, p.provider
