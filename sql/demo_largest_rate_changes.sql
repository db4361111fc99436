-- the demo's ten largest input-rate moves, with the interval in which each happened
select
    strftime(observed_at, '%Y-%m-%d') as seen_on,
    license,
    provider,
    model_id,
    old_input_cost_per_micro_credit as old_input,
    new_input_cost_per_micro_credit as new_input,
    case
        when input_pct_change is null then 'from 0'
        else printf('%+.1f%%', input_pct_change)
    end as input_change
from catalog_events
where event_type = 'rate_changed'
    and old_input_cost_per_micro_credit is distinct from new_input_cost_per_micro_credit
order by abs(input_pct_change) desc nulls last, observed_at, license, provider, model_id
limit 10
