-- the newest $limit events since $since, with how many there are in all
select
    observed_at,
    license,
    provider,
    model_id,
    event_type,
    old_name,
    new_name,
    old_input_cost_per_micro_credit as old_input,
    new_input_cost_per_micro_credit as new_input,
    input_pct_change,
    old_output_cost_per_micro_credit as old_output,
    new_output_cost_per_micro_credit as new_output,
    output_pct_change,
    old_context_window,
    new_context_window,
    old_max_output_tokens,
    new_max_output_tokens,
    count(*) over () as total
from catalog_events
where observed_at >= $since
order by observed_at desc, greatest(abs(input_pct_change), abs(output_pct_change)) desc nulls last, license, provider, model_id, event_type
limit $limit
