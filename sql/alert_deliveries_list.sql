-- the ledger as `qcat alerts` lists it, newest first: every delivery, or those in $state, or those
-- enqueued from $since on (null: no filter). The alert's payload stays in the table
select
    state,
    channel,
    critical,
    summary,
    attempts,
    enqueued_at,
    last_attempt_at,
    last_error,
    sent_at,
    alert_key,
    alert_type,
    license,
    provider,
    model_id,
    pull_id,
    observed_at
from alert_deliveries
where ($state is null or state = $state)
    and ($since is null or enqueued_at >= $since)
order by enqueued_at desc, observed_at desc, alert_key, channel
