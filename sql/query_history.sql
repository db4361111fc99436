-- qcat history: every version of one model in each catalog, how it began and whether it ended in
-- a removal; times are naive UTC (much cheaper to fetch into Python)
with versions as (
    select
        license, provider, model_id, name,
        input_cost_per_micro_credit, output_cost_per_micro_credit, context_window, max_output_tokens,
        valid_from, valid_to, valid_from_pull_id, valid_to_pull_id,
        lag(input_cost_per_micro_credit) over catalog as previous_input,
        lag(output_cost_per_micro_credit) over catalog as previous_output,
        lead(valid_from_pull_id) over catalog as next_from_pull_id
    from model_versions
    where model_id = $model_id
        and (len($licenses::varchar[]) = 0 or list_contains($licenses::varchar[], license))
        and (len($providers::varchar[]) = 0 or list_contains($providers::varchar[], provider))
    window catalog as (partition by license, provider order by valid_from, valid_from_pull_id)
),

beginnings as (
    -- the events of the pull that opened a version (two pulls of one instant stay apart)
    select pull_id, string_agg(event_type, ', ' order by event_type) as began_with
    from catalog_events
    where model_id = $model_id
    group by pull_id
)

select
    v.license,
    v.provider,
    timezone('UTC', v.valid_from) as valid_from,
    timezone('UTC', v.valid_to) as valid_to,
    coalesce(b.began_with, 'baseline') as change,
    v.input_cost_per_micro_credit,
    pct_change(v.previous_input, v.input_cost_per_micro_credit) as input_pct_change,
    v.output_cost_per_micro_credit,
    pct_change(v.previous_output, v.output_cost_per_micro_credit) as output_pct_change,
    v.name,
    v.context_window,
    v.max_output_tokens,
    -- a version that the pull ending it did not replace: the model left the catalog
    v.valid_to is not null and v.next_from_pull_id is distinct from v.valid_to_pull_id as removed_at_end
from versions as v
left join beginnings as b on b.pull_id = v.valid_from_pull_id
order by v.license, v.provider, v.valid_from, v.valid_from_pull_id
