-- per catalog: its last applied pull (none yet = the next valid pull is the baseline) and any suspect pull awaiting the next one
create or replace view catalog_state as
with applied as (
    select license, provider, pull_id, observed_at, model_count
    from pulls
    where status = 'ok' or resolution = 'confirmed'
),

last_applied as (
    select
        license,
        provider,
        arg_max(pull_id, observed_at) as last_applied_pull_id,
        max(observed_at) as last_applied_at,
        arg_max(model_count, observed_at) as last_applied_model_count
    from applied
    group by license, provider
),

pending as (
    select license, provider, pull_id as pending_suspect_pull_id
    from pulls
    where resolution = 'pending'
)

select
    coalesce(a.license, p.license) as license,
    coalesce(a.provider, p.provider) as provider,
    a.last_applied_pull_id,
    a.last_applied_at,
    a.last_applied_model_count,
    p.pending_suspect_pull_id
from last_applied as a
full join pending as p using (license, provider)
