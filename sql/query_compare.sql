-- qcat compare: current rates of the models listed in two catalogs that differ only in their
-- license ($by = 'license') or only in their provider ($by = 'provider'); largest spread first
select *
from rate_spread($by)
where if($by = 'license', license_a = $a and license_b = $b, provider_a = $a and provider_b = $b)
    and (len($licenses::varchar[]) = 0 or list_contains($licenses::varchar[], license_a))
    and (len($providers::varchar[]) = 0 or list_contains($providers::varchar[], provider_a))
    and ($model_glob::varchar is null or lower(model_id) glob lower($model_glob::varchar))
order by
    greatest(abs(ln(input_ratio)), abs(ln(output_ratio))) desc nulls last,
    license_a,
    provider_a,
    model_id
