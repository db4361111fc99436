-- rebuild: for each sequenced pull after its catalog's first, how many models of the previous one it lacks
with lacking as (
    select license, provider, seq + 1 as seq, count(*) as missing_count
    from replay_edges
    where is_last and (next_seq is null or next_seq > seq + 1)
    group by all
)

select p.pull_id, coalesce(l.missing_count, 0) as missing_count
from sequenced_pulls as p
left join lacking as l using (license, provider, seq)
where p.seq > 1
