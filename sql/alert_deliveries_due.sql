-- deliveries still to make, oldest first; those enqueued before $expire_before are due to expire instead
select alert_key, channel, alert, enqueued_at < $expire_before as expired
from alert_deliveries
where state in ('pending', 'failed')
order by enqueued_at, observed_at, alert_key, channel
