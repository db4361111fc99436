-- the ledger as `qcat alerts` lists it, newest first
select state, channel, critical, summary, attempts, enqueued_at, last_attempt_at, last_error
from alert_deliveries
where $state is null or state = $state
order by enqueued_at desc, observed_at desc, alert_key, channel
