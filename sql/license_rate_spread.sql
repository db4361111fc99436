-- the same model and provider under two licenses, side by side with the ratio of their rates
create or replace view license_rate_spread as
select
    a.provider,
    a.model_id,
    a.license as license_a,
    b.license as license_b,
    a.input_cost_per_micro_credit as input_a,
    b.input_cost_per_micro_credit as input_b,
    a.input_cost_per_micro_credit / nullif(b.input_cost_per_micro_credit, 0) as input_ratio,
    a.output_cost_per_micro_credit as output_a,
    b.output_cost_per_micro_credit as output_b,
    a.output_cost_per_micro_credit / nullif(b.output_cost_per_micro_credit, 0) as output_ratio
from current_rates as a
join current_rates as b on a.provider = b.provider and a.model_id = b.model_id and a.license < b.license
