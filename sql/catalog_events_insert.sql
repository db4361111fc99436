-- events of the applied pulls; a catalog's first applied pull is its baseline and has none
insert into catalog_events by name
with eventful as (
    select * from changes where not is_baseline
),

presence as (
    select
        pull_id, license, provider, model_id, observed_at, previous_observed_at,
        presence_change as event_type,
        old_name, new_name,
        old_input_cost_per_micro_credit, new_input_cost_per_micro_credit,
        old_output_cost_per_micro_credit, new_output_cost_per_micro_credit,
        old_context_window, new_context_window, old_max_output_tokens, new_max_output_tokens
    from eventful
    where presence_change is not null
),

rates as (
    select
        pull_id, license, provider, model_id, observed_at, previous_observed_at,
        'rate_changed' as event_type,
        old_input_cost_per_micro_credit, new_input_cost_per_micro_credit,
        pct_change(old_input_cost_per_micro_credit, new_input_cost_per_micro_credit) as input_pct_change,
        old_output_cost_per_micro_credit, new_output_cost_per_micro_credit,
        pct_change(old_output_cost_per_micro_credit, new_output_cost_per_micro_credit) as output_pct_change
    from eventful
    where rate_changed
),

limits as (
    select
        pull_id, license, provider, model_id, observed_at, previous_observed_at,
        'limits_changed' as event_type,
        old_context_window, new_context_window, old_max_output_tokens, new_max_output_tokens
    from eventful
    where limits_changed
),

names as (
    select
        pull_id, license, provider, model_id, observed_at, previous_observed_at,
        'renamed' as event_type,
        old_name, new_name
    from eventful
    where renamed
),

events as (
    select * from presence
    union all by name
    select * from rates
    union all by name
    select * from limits
    union all by name
    select * from names
)

select event_id(pull_id, license, provider, model_id, event_type) as event_id, *
from events
