-- one row per rate that changed (input or output), bracketed in time: the old rate was last seen
-- at last_seen_old_at and the new one first at observed_at
create or replace view rate_changes as
with per_rate as (
    select
        event_id, license, provider, model_id, pull_id, observed_at, previous_observed_at,
        'input' as rate,
        old_input_cost_per_micro_credit as old_rate,
        new_input_cost_per_micro_credit as new_rate,
        input_pct_change as pct_change
    from catalog_events
    where event_type = 'rate_changed'
    union all
    select
        event_id, license, provider, model_id, pull_id, observed_at, previous_observed_at,
        'output' as rate,
        old_output_cost_per_micro_credit as old_rate,
        new_output_cost_per_micro_credit as new_rate,
        output_pct_change as pct_change
    from catalog_events
    where event_type = 'rate_changed'
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
    pct_change,
    case when new_rate > old_rate then 'increase' else 'decrease' end as direction,
    previous_observed_at as last_seen_old_at,
    observed_at,
    pull_id
from per_rate
where old_rate is distinct from new_rate
