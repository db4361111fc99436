-- per catalog that was ever pulled: its latest pull of any status, its last applied pull (none
-- yet = the next valid pull is the baseline) and any suspect pull awaiting the next valid one.
-- One pass over pulls: every nightly load starts by reading it. Pulls of one instant count in
-- pull id order, the order in which loads and the rebuild apply them
create or replace view catalog_state as
select
    license,
    provider,
    max(observed_at) as last_pulled_at,
    arg_max(pull_id, (observed_at, pull_id)) filter (where status = 'ok' or resolution = 'confirmed') as last_applied_pull_id,
    max(observed_at) filter (where status = 'ok' or resolution = 'confirmed') as last_applied_at,
    arg_max(model_count, (observed_at, pull_id)) filter (where status = 'ok' or resolution = 'confirmed') as last_applied_model_count,
    any_value(pull_id) filter (where resolution = 'pending') as pending_suspect_pull_id
from pulls
group by license, provider
