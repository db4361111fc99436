-- the demo's ten largest input-rate moves (micro-credits per token), with when they were seen
select
    strftime(observed_at, '%Y-%m-%d') as seen_on,
    license || '/' || provider as catalog,
    model_id,
    printf('%g -> %g', old_input_cost_per_micro_credit, new_input_cost_per_micro_credit) as input_rate,
    case
        when input_pct_change is null then 'from 0'
        else printf('%+.0f%%', input_pct_change)
    end as change
from catalog_events
where event_type = 'rate_changed'
    and old_input_cost_per_micro_credit is distinct from new_input_cost_per_micro_credit
order by abs(input_pct_change) desc nulls last, observed_at, license, provider, model_id
limit 10
