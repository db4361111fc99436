-- one catalog's events, each with what it says (the model, the kind of change, the old and new
-- values) apart from where it was seen: when a late live pull replays the catalog, an event that
-- says what one before the replay said is old news, though it may now sit at another pull. Oldest
-- first, in the order loads apply pulls: of the events that say one thing, the earliest are the
-- ones said before
select
    event_id,
    md5(to_json({
        'model_id': model_id,
        'event_type': event_type,
        'old_name': old_name,
        'new_name': new_name,
        'old_input': old_input_cost_per_micro_credit,
        'new_input': new_input_cost_per_micro_credit,
        'old_output': old_output_cost_per_micro_credit,
        'new_output': new_output_cost_per_micro_credit,
        'old_context_window': old_context_window,
        'new_context_window': new_context_window,
        'old_max_output_tokens': old_max_output_tokens,
        'new_max_output_tokens': new_max_output_tokens
    })::varchar) as signature
from catalog_events
where license = $license and provider = $provider
order by observed_at, pull_id, event_id
