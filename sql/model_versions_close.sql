-- end the current version of every model that changed or disappeared in an applied pull: it moves
-- to the ended versions. The diff kept its values and rowid, so no search through the table is needed
insert into model_versions_ended by name
select
    license,
    provider,
    model_id,
    old_name as name,
    old_input_cost_per_micro_credit as input_cost_per_micro_credit,
    old_output_cost_per_micro_credit as output_cost_per_micro_credit,
    old_context_window as context_window,
    old_max_output_tokens as max_output_tokens,
    version_valid_from as valid_from,
    observed_at as valid_to,
    false as is_current,
    version_valid_from_pull_id as valid_from_pull_id,
    pull_id as valid_to_pull_id
from changes
where was_current;
delete from model_versions_current
where rowid in (select version_rowid from changes where was_current)
