-- scd type 2: one row per distinct state of a model in a catalog; [valid_from, valid_to). Kept as
-- two tables, the current versions and the ended ones, so that a nightly load reads and changes
-- only the current ones however long the history grows; model_versions is their union
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
);
create table if not exists model_versions_ended as
from model_versions_current
limit 0;
create or replace view model_versions as
select * from model_versions_ended
union all
select * from model_versions_current
