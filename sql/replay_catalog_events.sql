-- rebuild: the events of the whole history at once, from the edges of each model's runs; the same rows, ids and values as the
-- pull-by-pull load (catalog_events_insert.sql), which the rebuild tests check
insert into catalog_events by name
with previous as (
    select
        r.*,
        p.observed_at as previous_observed_at,
        lag(r.name) over w as prev_name,
        lag(r.input_cost_per_micro_credit) over w as prev_input_cost_per_micro_credit,
        lag(r.output_cost_per_micro_credit) over w as prev_output_cost_per_micro_credit,
        lag(r.context_window) over w as prev_context_window,
        lag(r.max_output_tokens) over w as prev_max_output_tokens
    from replay_edges as r
    left join sequenced_pulls as p on p.license = r.license and p.provider = r.provider and p.seq = r.seq - 1
    window w as (partition by r.license, r.provider, r.model_id order by r.seq)
),

arrivals as (
    select
        pull_id, license, provider, model_id, observed_at, previous_observed_at,
        case when prev_seq is null then 'added' else 'readded' end as event_type,
        name as new_name,
        input_cost_per_micro_credit as new_input_cost_per_micro_credit,
        output_cost_per_micro_credit as new_output_cost_per_micro_credit,
        context_window as new_context_window,
        max_output_tokens as new_max_output_tokens
    from previous
    where is_start and seq > 1 and (prev_seq is null or prev_seq < seq - 1)
),

removals as (
    select
        n.pull_id, r.license, r.provider, r.model_id, n.observed_at, r.observed_at as previous_observed_at,
        'removed' as event_type,
        r.name as old_name,
        r.input_cost_per_micro_credit as old_input_cost_per_micro_credit,
        r.output_cost_per_micro_credit as old_output_cost_per_micro_credit,
        r.context_window as old_context_window,
        r.max_output_tokens as old_max_output_tokens
    from replay_edges as r
    join sequenced_pulls as n on n.license = r.license and n.provider = r.provider and n.seq = r.seq + 1
    where r.is_last and r.next_seq is distinct from r.seq + 1
),

kept as (
    select * from previous where is_start and prev_seq = seq - 1
),

rates as (
    select
        pull_id, license, provider, model_id, observed_at, previous_observed_at,
        'rate_changed' as event_type,
        prev_input_cost_per_micro_credit as old_input_cost_per_micro_credit,
        input_cost_per_micro_credit as new_input_cost_per_micro_credit,
        pct_change(prev_input_cost_per_micro_credit, input_cost_per_micro_credit) as input_pct_change,
        prev_output_cost_per_micro_credit as old_output_cost_per_micro_credit,
        output_cost_per_micro_credit as new_output_cost_per_micro_credit,
        pct_change(prev_output_cost_per_micro_credit, output_cost_per_micro_credit) as output_pct_change
    from kept
    where prev_input_cost_per_micro_credit is distinct from input_cost_per_micro_credit
        or prev_output_cost_per_micro_credit is distinct from output_cost_per_micro_credit
),

limits as (
    select
        pull_id, license, provider, model_id, observed_at, previous_observed_at,
        'limits_changed' as event_type,
        prev_context_window as old_context_window,
        context_window as new_context_window,
        prev_max_output_tokens as old_max_output_tokens,
        max_output_tokens as new_max_output_tokens
    from kept
    where prev_context_window is distinct from context_window
        or prev_max_output_tokens is distinct from max_output_tokens
),

names as (
    select
        pull_id, license, provider, model_id, observed_at, previous_observed_at,
        'renamed' as event_type,
        prev_name as old_name,
        name as new_name
    from kept
    where prev_name is distinct from name
),

events as (
    select * from arrivals
    union all by name
    select * from removals
    union all by name
    select * from rates
    union all by name
    select * from limits
    union all by name
    select * from names
)

select event_id(pull_id, license, provider, model_id, event_type) as event_id, *
from events
