-- per catalog and model: when it was first and last seen, how often it left and came back
create or replace view model_lifecycle as
with seen as (
    select
        license,
        provider,
        model_id,
        min(valid_from) as first_seen_at,
        bool_or(is_current) as is_listed
    from model_versions
    group by license, provider, model_id
),

removals_and_returns as (
    select
        license,
        provider,
        model_id,
        count(*) filter (where event_type = 'removed') as times_removed,
        count(*) filter (where event_type = 'readded') as times_readded,
        max(observed_at) filter (where event_type = 'removed') as last_removed_at,
        arg_max(previous_observed_at, (observed_at, pull_id)) filter (where event_type = 'removed') as last_seen_before_removal,
        max(observed_at) filter (where event_type = 'readded') as last_readded_at
    from catalog_events
    where event_type in ('removed', 'readded')
    group by license, provider, model_id
)

select
    s.license,
    s.provider,
    s.model_id,
    s.first_seen_at,
    case when s.is_listed then a.last_applied_at else m.last_seen_before_removal end as last_seen_at,
    s.is_listed,
    coalesce(m.times_removed, 0) as times_removed,
    coalesce(m.times_readded, 0) as times_readded,
    m.last_removed_at,
    m.last_readded_at
from seen as s
left join removals_and_returns as m using (license, provider, model_id)
left join catalog_state as a using (license, provider)
