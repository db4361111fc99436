-- every pair of current catalogs listing the same model that differ only in their license
-- (differ_by = 'license') or only in their provider (differ_by = 'provider'), in both orders,
-- with the ratios a / b of their rates (none where either rate is 0: the pair in the other order
-- would have none either); the spread views and `qcat compare` pick their pairs here
create or replace macro rate_spread(differ_by) as table
with arguments as (
    -- anything else is refused, even when there are no rates to pair
    select case
        when differ_by in ('license', 'provider') then true
        else error('rate_spread: differ_by must be ''license'' or ''provider''')
    end as valid
),

rates as (
    select
        current_rates.*,
        if(differ_by = 'license', license, provider) as side,
        if(differ_by = 'license', provider, license) as shared
    from current_rates, arguments
    where arguments.valid
)

select
    a.model_id,
    a.license as license_a,
    a.provider as provider_a,
    b.license as license_b,
    b.provider as provider_b,
    a.input_cost_per_micro_credit as input_a,
    b.input_cost_per_micro_credit as input_b,
    nullif(a.input_cost_per_micro_credit, 0) / nullif(b.input_cost_per_micro_credit, 0) as input_ratio,
    a.output_cost_per_micro_credit as output_a,
    b.output_cost_per_micro_credit as output_b,
    nullif(a.output_cost_per_micro_credit, 0) / nullif(b.output_cost_per_micro_credit, 0) as output_ratio
from rates as a
join rates as b on a.shared = b.shared and a.model_id = b.model_id and a.side <> b.side
