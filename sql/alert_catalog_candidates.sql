-- failing catalogs among the given live pulls: a streak of auth errors, a streak of unavailable/invalid
-- pulls at least $failing_after long (at least, not exactly: a streak that a late pull lengthened, or
-- a failing_after lowered mid-streak, must still alert), and every pull the guard held back as
-- suspect. One candidate per streak, its first pull among the given ones: the ledger keys a streak
-- by its first pull, so that it alerts once
with classified as (
    select
        *,
        -- the kind of streak a failed pull belongs to: an invalid response counts as an outage
        case
            when status = 'auth_error' then 'auth_error'
            when status in ('unavailable', 'invalid') then 'unavailable'
        end as failing
    from pulls
),

islands as (
    select
        *,
        row_number() over (partition by license, provider order by observed_at, pull_id)
        - row_number() over (partition by license, provider, failing order by observed_at, pull_id) as island
    from classified
),

streaks as (
    select
        *,
        row_number() over streak as streak_length,
        first_value(pull_id) over streak as streak_first_pull_id,
        first_value(observed_at) over streak as streak_since
    from islands
    where failing is not null
    window streak as (partition by license, provider, failing, island order by observed_at, pull_id)
),

streak_alerts as (
    select license, provider, pull_id, observed_at, status, error, failing as reason,
        streak_length, streak_first_pull_id, streak_since, null::integer as removed_count, null::integer as added_count,
        model_count, origin
    from streaks
    where failing = 'auth_error' or (failing = 'unavailable' and streak_length >= $failing_after)
),

applied_before as (
    -- each pull with the model count of its catalog's last applied pull before it (the current models
    -- a suspect pull was judged against)
    select
        *,
        last_value(if(status = 'ok' or resolution = 'confirmed', model_count, null) ignore nulls) over (
            partition by license, provider order by observed_at, pull_id rows between unbounded preceding and 1 preceding
        ) as current_count
    from pulls
),

suspect_alerts as (
    -- the new models a suspect pull listed: those beyond the current ones it kept
    select license, provider, pull_id, observed_at, status, error, 'suspect' as reason,
        1 as streak_length, pull_id as streak_first_pull_id, observed_at as streak_since, removed_count,
        model_count - (current_count - removed_count) as added_count, model_count, origin
    from applied_before
    where status = 'suspect'
),

candidates as (
    select * from streak_alerts
    union all
    select * from suspect_alerts
)

select * exclude (origin)
from candidates
where pull_id in (select unnest($pull_ids)) and origin = 'live'
qualify row_number() over (partition by license, provider, reason, streak_first_pull_id order by observed_at, pull_id) = 1
order by license, provider, observed_at
