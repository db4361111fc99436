-- rebuild: the rows where a model's run of identical values starts or ends, over the pulls in
-- sequenced_pulls (seq numbers them 1, 2, ... per catalog); everything between is unchanged
create or replace temp table replay_edges as
with rows as (
    select
        p.license,
        p.provider,
        p.seq,
        p.pull_id,
        p.observed_at,
        m.model_id,
        m.name,
        m.input_cost_per_micro_credit,
        m.output_cost_per_micro_credit,
        m.context_window,
        m.max_output_tokens,
        struct_pack(
            m.name,
            m.input_cost_per_micro_credit,
            m.output_cost_per_micro_credit,
            m.context_window,
            m.max_output_tokens
        ) as state
    from history_models as m
    join sequenced_pulls as p using (pull_id)
),

framed as (
    select
        * exclude (state),
        lag(seq) over w as prev_seq,
        lead(seq) over w as next_seq,
        lag(state) over w is distinct from state as differs_from_prev,
        lead(state) over w is distinct from state as differs_from_next
    from rows
    window w as (partition by license, provider, model_id order by seq)
)

select
    * exclude (differs_from_prev, differs_from_next),
    prev_seq is null or prev_seq < seq - 1 or differs_from_prev as is_start,
    next_seq is null or next_seq > seq + 1 or differs_from_next as is_last
from framed
where prev_seq is null or prev_seq < seq - 1 or differs_from_prev
    or next_seq is null or next_seq > seq + 1 or differs_from_next
