-- the alert delivery ledger: one row per (alert_key, channel); derived from archive/alerts, restored by qcat rebuild
create table if not exists alert_deliveries (
    alert_key varchar not null,         -- event:<event_id>, or catalog:<license>/<provider>:<reason>:<first pull of the streak>
    channel varchar not null,           -- [[alerts.channels]] name
    state varchar not null,             -- pending | sent | failed | expired
    critical boolean not null,
    alert_type varchar not null,        -- catalog_events.event_type, or catalog_failing
    license varchar not null,
    provider varchar not null,
    model_id varchar,                   -- null for catalog_failing
    pull_id varchar not null,
    observed_at timestamptz not null,
    summary varchar not null,           -- one line for people
    alert json not null,                -- the alert as the webhook payload (qcat.alerts/v1) carries it
    attempts integer not null,          -- delivery attempts made so far (HTTP requests, file appends)
    enqueued_at timestamptz not null,   -- first enqueue: expiry counts from here
    first_attempt_at timestamptz,
    last_attempt_at timestamptz,
    sent_at timestamptz,
    last_error varchar                  -- the last failed attempt's error: status code or error type, never a URL
)
