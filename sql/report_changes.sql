-- the newest $limit events since $since, with how many there are in all; within one instant the
-- largest rate moves first, a move from 0 (no percentage) first of all, as an infinite rise
with events as (
    select
        *,
        if(
            event_type = 'rate_changed' and (input_pct_change is null or output_pct_change is null),
            'infinity'::double,
            greatest(abs(input_pct_change), abs(output_pct_change))
        ) as largest_pct
    from catalog_events
    where observed_at >= $since
)

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
from events
order by observed_at desc, largest_pct desc nulls last, license, provider, model_id, event_type
limit $limit
