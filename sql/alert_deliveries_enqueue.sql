-- new (alert, channel) pairs from the ledger log; a pair already in the ledger keeps its first enqueue
insert into alert_deliveries by name
with first_enqueue as (
    select *
    from ledger_ops
    where op = 'enqueue'
    qualify row_number() over (partition by alert_key, channel order by seq) = 1
)

select
    e.alert_key, e.channel, 'pending' as state, e.critical, e.alert_type, e.license, e.provider, e.model_id,
    e.pull_id, e.observed_at, e.summary, e.alert::json as alert, 0 as attempts, e.op_at as enqueued_at
from first_enqueue as e
anti join alert_deliveries as d on d.alert_key = e.alert_key and d.channel = e.channel
