-- open a version for every model that is new, back, or changed in an applied pull (the diff
-- holds no unchanged model, so that is every model present in it)
insert into model_versions_current by name
select
    license,
    provider,
    model_id,
    new_name as name,
    new_input_cost_per_micro_credit as input_cost_per_micro_credit,
    new_output_cost_per_micro_credit as output_cost_per_micro_credit,
    new_context_window as context_window,
    new_max_output_tokens as max_output_tokens,
    observed_at as valid_from,
    null as valid_to,
    true as is_current,
    pull_id as valid_from_pull_id,
    null as valid_to_pull_id
from changes
where is_present
