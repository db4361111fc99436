-- per pull being applied: how many of its catalog's current models it lacks (the shrink guard's input)
with lacking as (
    select
        pull_id,
        count(*) filter (where was_current) as current_count,
        count(*) filter (where was_current and not is_present) as missing_count
    from changes
    group by pull_id
)

select
    a.pull_id,
    coalesce(l.current_count, 0) as current_count,
    coalesce(l.missing_count, 0) as missing_count,
    st.pending_suspect_pull_id
from apply_pulls as a
left join lacking as l using (pull_id)
left join catalog_state as st on st.license = a.license and st.provider = a.provider
