-- the same model and provider under two licenses, side by side with the ratio of their rates
create or replace view license_rate_spread as
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
    output_ratio
from rate_spread('license')
where license_a < license_b
