-- qcat compare: current rates of the models listed in two catalogs that differ only in their
-- license ($by = 'license') or only in their provider ($by = 'provider'); largest spread first
with rates as (
    select
        *,
        if($by = 'license', license, provider) as side,
        if($by = 'license', provider, license) as shared
    from current_rates
),
paired as (
    select
        a.model_id,
        a.license as license_a,
        a.provider as provider_a,
        b.license as license_b,
        b.provider as provider_b,
        a.input_cost_per_micro_credit as input_a,
        b.input_cost_per_micro_credit as input_b,
        a.input_cost_per_micro_credit / nullif(b.input_cost_per_micro_credit, 0) as input_ratio,
        a.output_cost_per_micro_credit as output_a,
        b.output_cost_per_micro_credit as output_b,
        a.output_cost_per_micro_credit / nullif(b.output_cost_per_micro_credit, 0) as output_ratio
    from rates as a
    join rates as b on a.shared = b.shared and a.model_id = b.model_id
    where a.side = $a
        and b.side = $b
        and (len($licenses::varchar[]) = 0 or list_contains($licenses::varchar[], a.license))
        and (len($providers::varchar[]) = 0 or list_contains($providers::varchar[], a.provider))
        and ($model_glob::varchar is null or lower(a.model_id) glob $model_glob::varchar)
)
select *
from paired
order by
    greatest(abs(ln(nullif(input_ratio, 0))), abs(ln(nullif(output_ratio, 0)))) desc nulls last,
    license_a,
    provider_a,
    model_id
