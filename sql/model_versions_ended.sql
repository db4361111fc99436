-- scd type 2, the versions that ended: a model changed or left its catalog at valid_to, observed by
-- the pull valid_to_pull_id
create table if not exists model_versions_ended (
    license varchar not null,
    provider varchar not null,
    model_id varchar not null,
    name varchar,
    input_cost_per_micro_credit double not null,
    output_cost_per_micro_credit double not null,
    context_window bigint,
    max_output_tokens bigint,
    valid_from timestamptz not null,
    valid_to timestamptz not null,
    is_current boolean not null,
    valid_from_pull_id varchar not null,
    valid_to_pull_id varchar not null
)
