-- scd type 2, the versions still current: what a nightly load reads and changes, so that its cost
-- does not grow with the history (the ended versions live in model_versions_ended)
create table if not exists model_versions_current (
    license varchar not null,
    provider varchar not null,
    model_id varchar not null,
    name varchar,
    input_cost_per_micro_credit double not null,
    output_cost_per_micro_credit double not null,
    context_window bigint,
    max_output_tokens bigint,
    valid_from timestamptz not null,
    valid_to timestamptz,
    is_current boolean not null,
    valid_from_pull_id varchar not null,
    valid_to_pull_id varchar
)
