-- qcat rates: the catalog of every license and provider, now or at $as_of, filtered; times are
-- naive UTC (much cheaper to fetch into Python)
with catalog as (
    select
        license, provider, model_id, name,
        input_cost_per_micro_credit, output_cost_per_micro_credit, context_window, max_output_tokens,
        current_since::timestamp as since
    from current_rates
    where $as_of::timestamptz is null
    union all
    select
        license, provider, model_id, name,
        input_cost_per_micro_credit, output_cost_per_micro_credit, context_window, max_output_tokens,
        valid_from::timestamp as since
    from rates_as_of($as_of::timestamptz)
)
select *
from catalog
where (len($licenses::varchar[]) = 0 or list_contains($licenses::varchar[], license))
    and (len($providers::varchar[]) = 0 or list_contains($providers::varchar[], provider))
    and ($model_glob::varchar is null or lower(model_id) glob $model_glob::varchar)
order by license, provider, model_id
