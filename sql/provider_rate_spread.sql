-- the same model under two providers of one license, side by side with the ratio of their rates
create or replace view provider_rate_spread as
select
    license_a as license,
    model_id,
    provider_a,
    provider_b,
    input_a,
    input_b,
    input_ratio,
    output_a,
    output_b,
    output_ratio
from rate_spread('provider')
where provider_a < provider_b
