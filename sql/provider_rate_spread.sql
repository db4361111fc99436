-- the same model under two providers of one license, side by side with the ratio of their rates
create or replace view provider_rate_spread as
select
    a.license,
    a.model_id,
    a.provider as provider_a,
    b.provider as provider_b,
    a.input_cost_per_micro_credit as input_a,
    b.input_cost_per_micro_credit as input_b,
    a.input_cost_per_micro_credit / nullif(b.input_cost_per_micro_credit, 0) as input_ratio,
    a.output_cost_per_micro_credit as output_a,
    b.output_cost_per_micro_credit as output_b,
    a.output_cost_per_micro_credit / nullif(b.output_cost_per_micro_credit, 0) as output_ratio
from current_rates as a
join current_rates as b on a.license = b.license and a.model_id = b.model_id and a.provider < b.provider
