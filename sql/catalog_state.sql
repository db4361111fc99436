-- per catalog that was ever pulled: its latest pull of any status, its last applied pull (none
-- yet = the next valid pull is the baseline), the most models an applied pull listed (what the
-- guard holds a sudden growth against) and any suspect pull awaiting the next valid one.
-- One pass over pulls: every nightly load starts by reading it. The last applied pull is the
-- greatest by (observed_at, pull_id), the order in which loads and the rebuild apply pulls, so that
-- pulls of one instant count as they were applied
create or replace view catalog_state as
with per_catalog as (
    select
        license,
        provider,
        max(observed_at) as last_pulled_at,
        max({'observed_at': observed_at, 'pull_id': pull_id, 'model_count': model_count})
            filter (where status = 'ok' or resolution = 'confirmed') as last_applied,
        max(model_count) filter (where status = 'ok' or resolution = 'confirmed') as peak_applied_model_count,
        any_value(pull_id) filter (where resolution = 'pending') as pending_suspect_pull_id
    from pulls
    group by license, provider
)

select
    license,
    provider,
    last_pulled_at,
    last_applied.pull_id as last_applied_pull_id,
    last_applied.observed_at as last_applied_at,
    last_applied.model_count as last_applied_model_count,
    peak_applied_model_count,
    pending_suspect_pull_id
from per_catalog
