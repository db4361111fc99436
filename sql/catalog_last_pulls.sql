-- per catalog: its latest pull and how it went, and its latest successful pull. The latest pull's
-- model count is null when it listed none (a failed pull): arg_max_null, as arg_max would skip to
-- the count of an earlier pull
select
    license,
    provider,
    max(observed_at) as last_pull_at,
    arg_max(status, (observed_at, pull_id)) as last_status,
    arg_max_null(model_count, (observed_at, pull_id)) as last_models,
    max(observed_at) filter (where status = 'ok') as last_ok_at
from pulls
group by license, provider
