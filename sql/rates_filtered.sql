-- what qcat rates lists: the catalog of every license and provider, now (as_of null) or at as_of,
-- filtered; times are naive UTC (much cheaper to fetch into Python). Fetched as rows for json and
-- csv (query_rates.sql), laid out as a table by DuckDB itself (query_rates_table.sql). A temporary
-- macro, created by the read-only command that asks
create or replace temp macro rates_filtered(as_of, licenses, providers, model_glob) as table
with catalog as (
    select
        license, provider, model_id, name,
        input_cost_per_micro_credit, output_cost_per_micro_credit, context_window, max_output_tokens,
        timezone('UTC', current_since) as valid_from
    from current_rates
    where as_of::timestamptz is null
    union all
    select
        license, provider, model_id, name,
        input_cost_per_micro_credit, output_cost_per_micro_credit, context_window, max_output_tokens,
        timezone('UTC', valid_from) as valid_from
    from rates_as_of(as_of::timestamptz)
)

select *
from catalog
where (len(licenses::varchar[]) = 0 or list_contains(licenses::varchar[], license))
    and (len(providers::varchar[]) = 0 or list_contains(providers::varchar[], provider))
    and (model_glob::varchar is null or lower(model_id) glob lower(model_glob::varchar))
