-- what each applied pull changes against its catalog's current versions (one pull per catalog);
-- unchanged models are left out, so later steps touch only the few rows that matter
create or replace temp table changes as
with applying as (
    select
        a.pull_id,
        a.license,
        a.provider,
        a.observed_at,
        st.last_applied_at as previous_observed_at,
        st.last_applied_pull_id is null as is_baseline
    from apply_pulls as a
    left join catalog_state as st using (license, provider)
),

incoming as (
    select a.*, s.model_id, s.name, s.input_cost_per_micro_credit, s.output_cost_per_micro_credit,
        s.context_window, s.max_output_tokens
    from stage_models as s
    join applying as a using (pull_id)
),

current_versions as (
    select a.*, v.model_id, v.name, v.input_cost_per_micro_credit, v.output_cost_per_micro_credit,
        v.context_window, v.max_output_tokens, v.rowid as version_rowid
    from model_versions_current as v
    join applying as a using (license, provider)
),

compared as (
    select
        coalesce(i.pull_id, c.pull_id) as pull_id,
        coalesce(i.license, c.license) as license,
        coalesce(i.provider, c.provider) as provider,
        coalesce(i.observed_at, c.observed_at) as observed_at,
        coalesce(i.previous_observed_at, c.previous_observed_at) as previous_observed_at,
        coalesce(i.is_baseline, c.is_baseline) as is_baseline,
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
        c.version_rowid
    from incoming as i
    full join current_versions as c on i.pull_id = c.pull_id and i.model_id = c.model_id
),

arriving as (
    -- only models that were not current can be back: the others need no lookup in the history
    select license, provider, model_id
    from compared
    where not was_current
),

seen_before as (
    select distinct v.license, v.provider, v.model_id
    from model_versions_ended as v
    semi join arriving as n using (license, provider, model_id)
),

classified as (
    select
        compared.*,
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
    from compared
    left join seen_before as sb using (license, provider, model_id)
)

select
    *,
    was_current and (not is_present or rate_changed or limits_changed or renamed) as ends_version
from classified
where presence_change is not null or rate_changed or limits_changed or renamed
