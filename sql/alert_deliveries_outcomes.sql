-- delivery outcomes from the ledger log in log order: attempts add up, the last outcome is the state,
-- and sent is final, within the ops applied here (a rebuild applies the whole log at once) as against
-- the state already stored (a live sync applies one run's ops)
with outcomes as (
    select
        alert_key,
        channel,
        if(bool_or(op = 'sent'), 'sent', arg_max(op, seq)) as state,
        sum(tries) as tries,
        min(first_at) as first_at,
        max(op_at) filter (where op <> 'expired') as last_at,
        min(op_at) filter (where op = 'sent') as sent_at,
        arg_max(error, seq) filter (where error is not null) as last_error
    from ledger_ops
    where op <> 'enqueue'
    group by alert_key, channel
)

update alert_deliveries as d
set
    state = case when d.state = 'sent' then 'sent' else o.state end,
    attempts = d.attempts + o.tries,
    first_attempt_at = coalesce(d.first_attempt_at, o.first_at),
    last_attempt_at = coalesce(o.last_at, d.last_attempt_at),
    sent_at = coalesce(d.sent_at, o.sent_at),
    last_error = coalesce(o.last_error, d.last_error)
from outcomes as o
where d.alert_key = o.alert_key and d.channel = o.channel
