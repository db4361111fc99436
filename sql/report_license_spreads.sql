-- the $limit widest gaps between two licenses for the same model and provider today; each pair is turned so
-- that license_a pays more for the rate with the widest gap (its ratio >= 1), and counted once
with spreads as (
    select
        *,
        greatest(input_ratio, output_ratio) as a_over_b,
        greatest(1 / nullif(input_ratio, 0), 1 / nullif(output_ratio, 0)) as b_over_a
    from license_rate_spread
),

oriented as (
    select
        provider,
        model_id,
        b_over_a > a_over_b as turned,
        greatest(a_over_b, b_over_a) as spread,
        case when turned then license_b else license_a end as license_a,
        case when turned then license_a else license_b end as license_b,
        case when turned then input_b else input_a end as input_a,
        case when turned then input_a else input_b end as input_b,
        case when turned then 1 / nullif(input_ratio, 0) else input_ratio end as input_ratio,
        case when turned then output_b else output_a end as output_a,
        case when turned then output_a else output_b end as output_b,
        case when turned then 1 / nullif(output_ratio, 0) else output_ratio end as output_ratio
    from spreads
)

select
    provider,
    model_id,
    license_a,
    license_b,
    input_a,
    input_b,
    input_ratio,
    output_a,
    output_b,
    output_ratio,
    spread,
    count(*) over () as total
from oriented
where spread > 1
order by spread desc, provider, model_id, license_a, license_b
limit $limit
