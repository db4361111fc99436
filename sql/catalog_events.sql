-- what changed, one row per model and kind of change per applied pull
create table if not exists catalog_events (
    event_id varchar primary key,       -- md5 of pull, catalog, model and event type: stable across rebuilds
    license varchar not null,
    provider varchar not null,
    model_id varchar not null,
    event_type varchar not null,        -- added | removed | readded | rate_changed | limits_changed | renamed
    pull_id varchar not null,
    observed_at timestamptz not null,
    previous_observed_at timestamptz,   -- the catalog's previous applied pull: the change happened in between
    old_name varchar,
    new_name varchar,
    old_input_cost_per_micro_credit double,
    new_input_cost_per_micro_credit double,
    input_pct_change double,            -- null for a 0 -> x change (no percentage; 0 -> 0 is 0)
    old_output_cost_per_micro_credit double,
    new_output_cost_per_micro_credit double,
    output_pct_change double,
    old_context_window bigint,
    new_context_window bigint,
    old_max_output_tokens bigint,
    new_max_output_tokens bigint
);
