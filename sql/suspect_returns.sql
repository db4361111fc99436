-- per pull whose catalog has a suspect pull pending: how many of the current models that the
-- suspect pull lacked this pull lists again (none: the suspect is confirmed; any: dismissed).
-- The models of the pulls ($files) and of the suspect pulls ($suspect_files) come from the archive
with pending as (
    select pull_id, license, provider, pending_suspect_pull_id as suspect_pull_id
    from apply_pulls
    where pending_suspect_pull_id is not null
),

suspect_models as (
    select pull_id as suspect_pull_id, model_id
    from archive_models($suspect_files)
),

lacked as (
    -- the catalog's current models that its suspect pull did not list
    select p.pull_id, v.model_id
    from pending as p
    join model_versions_current as v on v.license = p.license and v.provider = p.provider
    anti join suspect_models as s on s.suspect_pull_id = p.suspect_pull_id and s.model_id = v.model_id
)

select p.pull_id, p.suspect_pull_id, count(m.model_id) as returned_count
from pending as p
left join lacked as l on l.pull_id = p.pull_id
left join archive_models($files) as m on m.pull_id = l.pull_id and m.model_id = l.model_id
group by p.pull_id, p.suspect_pull_id
