-- the pulls whose events the last live run applied: its own pulls and the suspect pulls they confirmed.
-- A run stamps its pulls with one instant, and the last run is the one of the latest instant: a run
-- given an earlier one (the flow's observed_at, for simulated dates) is not the last, even if it ran last
with live as (
    select *
    from pulls
    where origin = 'live'
),

last_run as (
    select pull_id, license, provider, observed_at
    from live
    where observed_at = (select max(observed_at) from live)
),

confirmed as (
    select s.pull_id
    from pulls as s
    join last_run as r on r.license = s.license and r.provider = s.provider and s.observed_at < r.observed_at
    where s.resolution = 'confirmed'
        and not exists (
            select 1
            from pulls as v
            where v.license = s.license and v.provider = s.provider and v.status in ('ok', 'suspect')
                and v.observed_at > s.observed_at and v.observed_at < r.observed_at
        )
)

select pull_id from last_run
union
select pull_id from confirmed
