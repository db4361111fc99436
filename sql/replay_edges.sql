-- rebuild: the rows where a model's run of identical values starts or ends (its edges), over the
-- pulls in sequenced_pulls (seq numbers them 1, 2, ... per catalog; catalog_no numbers the
-- catalogs) whose archived Parquet files are $files; everything between is unchanged.
-- A run is a stretch of consecutive pulls listing a model with the same values. Grouping the rows
-- by model and values finds most runs in one hash aggregate, without sorting every row: a group
-- whose pulls are consecutive is one run. Only values that come back after a change or an absence
-- (A -> B -> A) are split into runs pull by pull.
create or replace temp table replay_edges as
with model_rows as (
    select
        p.catalog_no,
        p.seq,
        m.model_id,
        m.name,
        m.input_cost_per_micro_credit,
        m.output_cost_per_micro_credit,
        m.context_window,
        m.max_output_tokens
    from archive_models($files) as m
    join sequenced_pulls as p using (pull_id)
),

states as (
    -- group by treats nulls as equal, as `is distinct from` does in the nightly diff
    select
        catalog_no,
        model_id,
        name,
        input_cost_per_micro_credit,
        output_cost_per_micro_credit,
        context_window,
        max_output_tokens,
        min(seq) as first_seq,
        max(seq) as last_seq,
        count(*) as pull_count,
        list(seq) as seqs
    from model_rows
    group by all
),

returning_rows as (
    -- values with a gap between their first and last pull: back to one row per pull
    select * exclude (first_seq, last_seq, pull_count, seqs), unnest(seqs) as seq
    from states
    where pull_count < last_seq - first_seq + 1
),

returning_states as (
    -- consecutive pulls of the same values form a run: seq minus its rank is constant within one
    select
        *,
        seq - row_number() over (
            partition by
                catalog_no, model_id, name, input_cost_per_micro_credit, output_cost_per_micro_credit,
                context_window, max_output_tokens
            order by seq
        ) as island
    from returning_rows
),

returning_runs as (
    select * exclude (seq), min(seq) as first_seq, max(seq) as last_seq
    from returning_states
    group by all
),

runs as (
    select * exclude (pull_count, seqs)
    from states
    where pull_count = last_seq - first_seq + 1
    union all by name
    select * exclude (island)
    from returning_runs
),

linked as (
    select
        *,
        lag(last_seq) over w as previous_run_last_seq,
        lead(first_seq) over w as next_run_first_seq
    from runs
    window w as (partition by catalog_no, model_id order by first_seq)
),

edges as (
    select
        * exclude (first_seq, last_seq, previous_run_last_seq, next_run_first_seq),
        first_seq as seq,
        previous_run_last_seq as prev_seq,
        case when first_seq = last_seq then next_run_first_seq else first_seq + 1 end as next_seq,
        true as is_start,
        first_seq = last_seq as is_last
    from linked
    union all by name
    select
        * exclude (first_seq, last_seq, previous_run_last_seq, next_run_first_seq),
        last_seq as seq,
        last_seq - 1 as prev_seq,
        next_run_first_seq as next_seq,
        false as is_start,
        true as is_last
    from linked
    where last_seq > first_seq
)

select p.license, p.provider, p.pull_id, p.observed_at, e.* exclude (catalog_no)
from edges as e
join sequenced_pulls as p using (catalog_no, seq)
