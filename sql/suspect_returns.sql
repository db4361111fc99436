-- per pull whose catalog has a suspect pull pending: on how many models it disagrees with the
-- suspect pull, against the catalog's current models: the current models the suspect pull lacked
-- that this pull lists again, and the new models the suspect pull listed that this pull lacks again
-- (none: the suspect is confirmed; any: dismissed). The models of the pulls ($files) and of the
-- suspect pulls ($suspect_files) come from the archive
with pending as (
    select pull_id, license, provider, pending_suspect_pull_id as suspect_pull_id
    from apply_pulls
    where pending_suspect_pull_id is not null
),

suspect_models as (
    select pull_id as suspect_pull_id, model_id
    from archive_models($suspect_files)
),

later_models as (
    select pull_id, model_id
    from archive_models($files)
),

lacked as (
    -- the catalog's current models that its suspect pull did not list
    select p.pull_id, v.model_id
    from pending as p
    join model_versions_current as v on v.license = p.license and v.provider = p.provider
    anti join suspect_models as s on s.suspect_pull_id = p.suspect_pull_id and s.model_id = v.model_id
),

brought as (
    -- the models its suspect pull listed that the catalog did not have
    select p.pull_id, s.model_id
    from pending as p
    join suspect_models as s on s.suspect_pull_id = p.suspect_pull_id
    anti join model_versions_current as v on v.license = p.license and v.provider = p.provider and v.model_id = s.model_id
),

disagreements as (
    select l.pull_id, l.model_id
    from lacked as l
    semi join later_models as m on m.pull_id = l.pull_id and m.model_id = l.model_id
    union all
    select b.pull_id, b.model_id
    from brought as b
    anti join later_models as m on m.pull_id = b.pull_id and m.model_id = b.model_id
)

select p.pull_id, p.suspect_pull_id, count(d.model_id) as disagreeing_count
from pending as p
left join disagreements as d using (pull_id)
group by p.pull_id, p.suspect_pull_id
