-- per catalog, what a load needs before it diffs: its latest pull (later archive folders may hold
-- pulls to load), when its last applied pull was observed, how many models that pull listed (its
-- current models, what the shrink guard compares with), the most models an applied pull listed, and
-- the suspect pull awaiting the next valid one
select
    license,
    provider,
    last_pulled_at,
    last_applied_at,
    coalesce(last_applied_model_count, 0) as current_count,
    coalesce(peak_applied_model_count, 0) as peak_count,
    pending_suspect_pull_id
from catalog_state
