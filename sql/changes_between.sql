-- catalog events observed in [since, until), filtered. With min_pct or direction, only the rate
-- changes where one rate passes both: it moved at least min_pct percent (a move from 0 always
-- counts) and went that way, as an alert rule judges each rate; model_glob matches model ids
-- whatever their case; min_pct and direction keep rate_changed events only (a model back at another
-- rate is a readded event; rate_changes lists it as a move while removed). A null argument filters
-- nothing. `change` says what changed in words. since and until are read as any timestamptz cast
-- reads them (a time without an offset in the session's TimeZone); times come back as naive UTC
-- in any session's time zone (cheaper to fetch into Python; `qcat changes` adds the zone). E.g.:
-- from changes_between(now() - interval 7 days, now(), types := ['rate_changed'], min_pct := 10)
create or replace macro changes_between(
    since, until, types := [], min_pct := null, direction := null, licenses := [], providers := [], model_glob := null
) as table
with arguments as (
    -- a direction that is neither is refused (though DuckDB may skip the check when the window
    -- cannot hold any event)
    select case
        when direction::varchar is null or direction::varchar in ('increase', 'decrease') then true
        else error('direction must be ''increase'' or ''decrease''')
    end as valid
),

events as (
    select
        *,
        old_input_cost_per_micro_credit is distinct from new_input_cost_per_micro_credit as input_moved,
        old_output_cost_per_micro_credit is distinct from new_output_cost_per_micro_credit as output_moved
    from catalog_events, arguments
    where arguments.valid
        and (since::timestamptz is null or observed_at >= since::timestamptz)
        and (until::timestamptz is null or observed_at < until::timestamptz)
        and (coalesce(len(types::varchar[]), 0) = 0 or list_contains(types::varchar[], event_type))
        and (coalesce(len(licenses::varchar[]), 0) = 0 or list_contains(licenses::varchar[], license))
        and (coalesce(len(providers::varchar[]), 0) = 0 or list_contains(providers::varchar[], provider))
        and (model_glob::varchar is null or lower(model_id) glob lower(model_glob::varchar))
),

judged as (
    -- whether each rate that moved passes min_pct and direction on its own
    select
        *,
        input_moved
            and (min_pct::double is null or input_pct_change is null or abs(input_pct_change) >= min_pct::double)
            and (direction::varchar is null or case direction::varchar
                when 'increase' then new_input_cost_per_micro_credit > old_input_cost_per_micro_credit
                else new_input_cost_per_micro_credit < old_input_cost_per_micro_credit
            end)
            as input_passes,
        output_moved
            and (min_pct::double is null or output_pct_change is null or abs(output_pct_change) >= min_pct::double)
            and (direction::varchar is null or case direction::varchar
                when 'increase' then new_output_cost_per_micro_credit > old_output_cost_per_micro_credit
                else new_output_cost_per_micro_credit < old_output_cost_per_micro_credit
            end)
            as output_passes
    from events
)

select
    timezone('UTC', observed_at) as observed_at,
    license,
    provider,
    model_id,
    event_type,
    case event_type
        when 'rate_changed' then concat_ws('; ',
            case when input_moved then format('input {} -> {} ({})', old_input_cost_per_micro_credit, new_input_cost_per_micro_credit,
                coalesce(format('{:+.2f}%', input_pct_change), 'from 0')) end,
            case when output_moved then format('output {} -> {} ({})', old_output_cost_per_micro_credit, new_output_cost_per_micro_credit,
                coalesce(format('{:+.2f}%', output_pct_change), 'from 0')) end)
        when 'limits_changed' then concat_ws('; ',
            case when old_context_window is distinct from new_context_window then format('context_window {} -> {}',
                coalesce(old_context_window::varchar, 'none'), coalesce(new_context_window::varchar, 'none')) end,
            case when old_max_output_tokens is distinct from new_max_output_tokens then format('max_output_tokens {} -> {}',
                coalesce(old_max_output_tokens::varchar, 'none'), coalesce(new_max_output_tokens::varchar, 'none')) end)
        when 'renamed' then format('{} -> {}', coalesce(old_name, 'none'), coalesce(new_name, 'none'))
        when 'removed' then format('was input {}, output {}', old_input_cost_per_micro_credit, old_output_cost_per_micro_credit)
        else format('input {}, output {}', new_input_cost_per_micro_credit, new_output_cost_per_micro_credit)
    end as change,
    old_input_cost_per_micro_credit,
    new_input_cost_per_micro_credit,
    input_pct_change,
    old_output_cost_per_micro_credit,
    new_output_cost_per_micro_credit,
    output_pct_change,
    old_name,
    new_name,
    old_context_window,
    new_context_window,
    old_max_output_tokens,
    new_max_output_tokens,
    timezone('UTC', previous_observed_at) as previous_observed_at,
    event_id,
    pull_id
from judged
where (min_pct::double is null and direction::varchar is null)
    or (event_type = 'rate_changed' and (input_passes or output_passes))
order by observed_at, license, provider, pull_id, model_id, event_type
