-- per pull being applied: its catalog's current model count and how many of those it lacks
-- (the shrink guard's input); the current models are exactly those of the last applied pull
with lacking as (
    select pull_id, count(*) as missing_count
    from changes
    where presence_change = 'removed'
    group by pull_id
)

select
    a.pull_id,
    coalesce(st.last_applied_model_count, 0) as current_count,
    coalesce(l.missing_count, 0) as missing_count,
    st.pending_suspect_pull_id
from apply_pulls as a
left join lacking as l using (pull_id)
left join catalog_state as st on st.license = a.license and st.provider = a.provider
