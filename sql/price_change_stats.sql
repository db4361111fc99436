-- per catalog and model: how many events moved either rate (rate_changed, and returns at another
-- rate: the events of rate_changes), first and latest rates, largest moves. Versions are ordered
-- by (valid_from, valid_from_pull_id), the order pulls were applied in, so that two pulls of one
-- instant cannot swap the latest rate
create or replace view price_change_stats as
with first_and_last_rates as (
    select
        license,
        provider,
        model_id,
        arg_min(input_cost_per_micro_credit, (valid_from, valid_from_pull_id)) as first_input,
        arg_max(input_cost_per_micro_credit, (valid_from, valid_from_pull_id)) as last_input,
        arg_min(output_cost_per_micro_credit, (valid_from, valid_from_pull_id)) as first_output,
        arg_max(output_cost_per_micro_credit, (valid_from, valid_from_pull_id)) as last_output
    from model_versions
    group by license, provider, model_id
),

moves as (
    select
        license,
        provider,
        model_id,
        count(distinct event_id) as rate_changes,
        max(pct_change) filter (where direction = 'increase') as largest_increase_pct,
        min(pct_change) filter (where direction = 'decrease') as largest_decrease_pct,
        max(observed_at) as last_change_at
    from rate_changes
    group by license, provider, model_id
)

select
    v.license,
    v.provider,
    v.model_id,
    coalesce(m.rate_changes, 0) as rate_changes,
    v.first_input,
    v.last_input,
    v.first_output,
    v.last_output,
    m.largest_increase_pct,
    m.largest_decrease_pct,
    m.last_change_at
from first_and_last_rates as v
left join moves as m using (license, provider, model_id)
