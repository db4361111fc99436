-- the demo's ten largest rate moves (micro-credits per token), input or output, whichever moved
-- more; with when they were seen. A rate that moved from 0 has no percentage (it is null there) and
-- ranks first, as an infinite rise, the way alerts and the report rank it
with moves as (
    select
        *,
        if(
            input_pct_change is null or output_pct_change is null,
            'infinity'::double,
            greatest(abs(input_pct_change), abs(output_pct_change))
        ) as largest_pct
    from catalog_events
    where event_type = 'rate_changed'
)

select
    strftime(observed_at, '%Y-%m-%d') as seen_on,
    license || '/' || provider as catalog,
    model_id,
    printf('%g -> %g', old_input_cost_per_micro_credit, new_input_cost_per_micro_credit) as input_rate,
    case
        when input_pct_change is null then 'from 0'
        else printf('%+.0f%%', input_pct_change)
    end as input_change,
    printf('%g -> %g', old_output_cost_per_micro_credit, new_output_cost_per_micro_credit) as output_rate,
    case
        when output_pct_change is null then 'from 0'
        else printf('%+.0f%%', output_pct_change)
    end as output_change
from moves
order by largest_pct desc, observed_at, license, provider, model_id
limit 10
