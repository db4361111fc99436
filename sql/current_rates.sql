-- the current catalog of every license and provider: one row per model listed by its last applied pull
create or replace view current_rates as
select
    license,
    provider,
    model_id,
    name,
    input_cost_per_micro_credit,
    output_cost_per_micro_credit,
    context_window,
    max_output_tokens,
    valid_from as current_since
from model_versions_current
