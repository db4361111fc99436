-- events of the applied pulls, one per model and kind of change; a catalog's first applied pull
-- is its baseline and has none. Each event keeps the old and new values of what it is about:
-- presence events all of them, the others their own
insert into catalog_events by name
with events as (
    select
        *,
        unnest(list_filter(
            [
                presence_change,
                if(rate_changed, 'rate_changed', null),
                if(limits_changed, 'limits_changed', null),
                if(renamed, 'renamed', null)
            ],
            lambda kind: kind is not null
        )) as event_type,
        presence_change is not null as is_presence
    from changes
    where not is_baseline
)

select
    event_id(pull_id, license, provider, model_id, event_type) as event_id,
    license,
    provider,
    model_id,
    event_type,
    pull_id,
    observed_at,
    previous_observed_at,
    if(is_presence or event_type = 'renamed', old_name, null) as old_name,
    if(is_presence or event_type = 'renamed', new_name, null) as new_name,
    if(is_presence or event_type = 'rate_changed', old_input_cost_per_micro_credit, null) as old_input_cost_per_micro_credit,
    if(is_presence or event_type = 'rate_changed', new_input_cost_per_micro_credit, null) as new_input_cost_per_micro_credit,
    if(event_type = 'rate_changed', pct_change(old_input_cost_per_micro_credit, new_input_cost_per_micro_credit), null) as input_pct_change,
    if(is_presence or event_type = 'rate_changed', old_output_cost_per_micro_credit, null) as old_output_cost_per_micro_credit,
    if(is_presence or event_type = 'rate_changed', new_output_cost_per_micro_credit, null) as new_output_cost_per_micro_credit,
    if(event_type = 'rate_changed', pct_change(old_output_cost_per_micro_credit, new_output_cost_per_micro_credit), null) as output_pct_change,
    if(is_presence or event_type = 'limits_changed', old_context_window, null) as old_context_window,
    if(is_presence or event_type = 'limits_changed', new_context_window, null) as new_context_window,
    if(is_presence or event_type = 'limits_changed', old_max_output_tokens, null) as old_max_output_tokens,
    if(is_presence or event_type = 'limits_changed', new_max_output_tokens, null) as new_max_output_tokens
from events
