-- one row per rate that changed (input or output), bracketed in time: the old rate was last seen
-- at last_seen_old_at and the new one first at observed_at. A model that comes back at another
-- rate changed it while it was away (while_removed): the old rate is that of its last version.
create or replace view rate_changes as
with in_place as (
    select
        event_id, license, provider, model_id, pull_id, observed_at,
        previous_observed_at as last_seen_old_at,
        old_input_cost_per_micro_credit as old_input,
        new_input_cost_per_micro_credit as new_input,
        old_output_cost_per_micro_credit as old_output,
        new_output_cost_per_micro_credit as new_output,
        false as while_removed
    from catalog_events
    where event_type = 'rate_changed'
),

returns as (
    -- a model back in the catalog: its last version before the return, in the order pulls were
    -- applied (valid_to, then the ending pull's id: two pulls of one instant keep their order)
    select
        e.event_id, e.license, e.provider, e.model_id, e.pull_id, e.observed_at,
        e.new_input_cost_per_micro_credit as new_input,
        e.new_output_cost_per_micro_credit as new_output,
        arg_max(v.input_cost_per_micro_credit, (v.valid_to, v.valid_to_pull_id)) as old_input,
        arg_max(v.output_cost_per_micro_credit, (v.valid_to, v.valid_to_pull_id)) as old_output,
        arg_max(v.valid_to_pull_id, (v.valid_to, v.valid_to_pull_id)) as removed_by_pull_id
    from catalog_events as e
    join model_versions as v
        on v.license = e.license and v.provider = e.provider and v.model_id = e.model_id
        and (v.valid_to < e.observed_at or v.valid_to = e.observed_at and v.valid_to_pull_id < e.pull_id)
    where e.event_type = 'readded'
    group by all
),

returned_changed as (
    select
        t.event_id, t.license, t.provider, t.model_id, t.pull_id, t.observed_at,
        r.previous_observed_at as last_seen_old_at,
        t.old_input, t.new_input, t.old_output, t.new_output,
        true as while_removed
    from returns as t
    join catalog_events as r
        on r.pull_id = t.removed_by_pull_id and r.license = t.license and r.provider = t.provider
        and r.model_id = t.model_id and r.event_type = 'removed'
    where t.old_input is distinct from t.new_input or t.old_output is distinct from t.new_output
),

moves as (
    select * from in_place
    union all
    select * from returned_changed
),

per_rate as (
    select *, 'input' as rate, old_input as old_rate, new_input as new_rate
    from moves
    union all
    select *, 'output' as rate, old_output as old_rate, new_output as new_rate
    from moves
)

select
    event_id,
    license,
    provider,
    model_id,
    rate,
    old_rate,
    new_rate,
    new_rate - old_rate as abs_change,
    pct_change(old_rate, new_rate) as pct_change,
    case when new_rate > old_rate then 'increase' else 'decrease' end as direction,
    last_seen_old_at,
    observed_at,
    while_removed,
    pull_id
from per_rate
where old_rate is distinct from new_rate
