-- rebuild: a version runs from a start edge to the next last edge of the same model; it ends at
-- the pull after its last one (a change or a removal), or is current when that pull is the latest
create or replace temp table replayed_versions as
with starts as (
    select *, row_number() over (partition by license, provider, model_id order by seq) as version_no
    from replay_edges
    where is_start
),

lasts as (
    select license, provider, model_id, seq as last_seq,
        row_number() over (partition by license, provider, model_id order by seq) as version_no
    from replay_edges
    where is_last
)

select
    s.license,
    s.provider,
    s.model_id,
    s.name,
    s.input_cost_per_micro_credit,
    s.output_cost_per_micro_credit,
    s.context_window,
    s.max_output_tokens,
    s.observed_at as valid_from,
    e.observed_at as valid_to,
    e.pull_id is null as is_current,
    s.pull_id as valid_from_pull_id,
    e.pull_id as valid_to_pull_id
from starts as s
join lasts as l using (license, provider, model_id, version_no)
left join sequenced_pulls as e
    on e.license = s.license and e.provider = s.provider and e.seq = l.last_seq + 1;
insert into model_versions_current by name
select * from replayed_versions where is_current;
insert into model_versions_ended by name
select * from replayed_versions where not is_current;
drop table replayed_versions
