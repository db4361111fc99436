-- what each applied pull (apply_pulls: one per catalog) changes against its catalog's current
-- versions; the pulls' models come straight from their archived Parquet files ($files).
-- Unchanged models drop out at the join, so later steps touch only the few rows that matter
create or replace temp table changes as
with current_versions as (
    select
        a.pull_id,
        v.model_id,
        v.name,
        v.input_cost_per_micro_credit,
        v.output_cost_per_micro_credit,
        v.context_window,
        v.max_output_tokens,
        v.valid_from,
        v.valid_from_pull_id,
        v.rowid as version_rowid
    from model_versions_current as v
    join apply_pulls as a using (license, provider)
),

compared as (
    select
        coalesce(i.pull_id, c.pull_id) as pull_id,
        coalesce(i.model_id, c.model_id) as model_id,
        i.model_id is not null as is_present,
        c.model_id is not null as was_current,
        c.name as old_name,
        i.name as new_name,
        c.input_cost_per_micro_credit as old_input_cost_per_micro_credit,
        i.input_cost_per_micro_credit as new_input_cost_per_micro_credit,
        c.output_cost_per_micro_credit as old_output_cost_per_micro_credit,
        i.output_cost_per_micro_credit as new_output_cost_per_micro_credit,
        c.context_window as old_context_window,
        i.context_window as new_context_window,
        c.max_output_tokens as old_max_output_tokens,
        i.max_output_tokens as new_max_output_tokens,
        c.valid_from as version_valid_from,
        c.valid_from_pull_id as version_valid_from_pull_id,
        c.version_rowid
    from archive_models($files) as i
    full join current_versions as c on i.pull_id = c.pull_id and i.model_id = c.model_id
    where i.model_id is null
        or c.model_id is null
        or i.name is distinct from c.name
        or i.input_cost_per_micro_credit is distinct from c.input_cost_per_micro_credit
        or i.output_cost_per_micro_credit is distinct from c.output_cost_per_micro_credit
        or i.context_window is distinct from c.context_window
        or i.max_output_tokens is distinct from c.max_output_tokens
),

located as (
    select
        a.license,
        a.provider,
        a.observed_at,
        a.previous_observed_at,
        a.previous_observed_at is null as is_baseline,
        c.*
    from compared as c
    join apply_pulls as a using (pull_id)
),

arriving as (
    -- only models that were not current can be back: the others need no lookup in the history
    select license, provider, model_id
    from located
    where not was_current
),

seen_before as (
    -- one row per arriving model: a round holds one pull per catalog, and a pull lists a model once
    select n.license, n.provider, n.model_id
    from arriving as n
    semi join model_versions_ended as v using (license, provider, model_id)
),

classified as (
    select
        located.*,
        case
            when not was_current and sb.model_id is not null then 'readded'
            when not was_current then 'added'
            when not is_present then 'removed'
        end as presence_change,
        was_current and is_present and (
            old_input_cost_per_micro_credit is distinct from new_input_cost_per_micro_credit
            or old_output_cost_per_micro_credit is distinct from new_output_cost_per_micro_credit
        ) as rate_changed,
        was_current and is_present and (
            old_context_window is distinct from new_context_window
            or old_max_output_tokens is distinct from new_max_output_tokens
        ) as limits_changed,
        was_current and is_present and old_name is distinct from new_name as renamed
    from located
    left join seen_before as sb using (license, provider, model_id)
)

from classified
