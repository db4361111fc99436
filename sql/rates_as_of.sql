-- the catalog of every license and provider at an instant: versions are half-open, so a change
-- observed exactly at `ts` is already in effect, e.g. from rates_as_of(timestamptz '2026-03-12 00:00:00+00').
-- A date or a time without an offset is cast in the session's TimeZone (the machine's, unless set)
create or replace macro rates_as_of(ts) as table
select
    license,
    provider,
    model_id,
    name,
    input_cost_per_micro_credit,
    output_cost_per_micro_credit,
    context_window,
    max_output_tokens,
    valid_from,
    valid_to
from model_versions
where valid_from <= ts::timestamptz
    and (valid_to is null or valid_to > ts::timestamptz)
