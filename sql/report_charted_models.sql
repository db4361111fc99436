-- the $limit models whose rates moved most since $since (largest percent move, then the latest), with how many moved in all.
-- A model's changes are its rate_changed events (and returns at another rate) in every catalog, as
-- price_change_stats counts them: an event that moved both rates is one change
with moves as (
    select
        model_id,
        event_id,
        rate,
        abs(pct_change) as abs_pct,
        observed_at
    from rate_changes
    where observed_at >= $since
),

models as (
    select
        model_id,
        bool_or(rate = 'input') as input_changed,
        bool_or(rate = 'output') as output_changed,
        count(distinct event_id) as changes,
        max(abs_pct) as largest_pct,
        bool_or(abs_pct is null) as moved_from_zero,
        max(observed_at) as last_change_at
    from moves
    group by model_id
)

select
    model_id,
    input_changed,
    output_changed,
    changes,
    largest_pct,
    last_change_at,
    count(*) over () as total
from models
-- a move from 0 has no percentage and counts as the largest
order by moved_from_zero desc, largest_pct desc nulls first, last_change_at desc, model_id
limit $limit
