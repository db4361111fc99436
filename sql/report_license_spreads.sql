-- the $limit widest gaps between two licenses for the same model and provider today; of each pair's
-- two orders the one where license_a pays more for the rate with the widest gap (spread > 1; a tie
-- between the orders keeps license_a < license_b). rate_spread gives no ratio where a rate is 0,
-- so a ratio is never 0, and a pair without ratios has no spread. The other order's spread is
-- divided out as that order divides it, not inverted: 1 / (0.0007 / 0.00105) is 1.4999999999999998,
-- not the 1.5 of 0.00105 / 0.0007, and a tie missed by a bit would list the pair twice or not at all
with spreads as (
    select
        *,
        greatest(input_ratio, output_ratio) as spread,
        greatest(nullif(input_b, 0) / nullif(input_a, 0), nullif(output_b, 0) / nullif(output_a, 0)) as reverse_spread
    from rate_spread('license')
)

select
    provider_a as provider,
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
from spreads
where spread > 1
    and (spread > reverse_spread or (spread = reverse_spread and license_a < license_b))
order by spread desc, provider, model_id, license_a, license_b
limit $limit
