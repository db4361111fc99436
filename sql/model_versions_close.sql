-- end the current version of every model that changed or disappeared in an applied pull
update model_versions as v
set valid_to = c.observed_at, is_current = false, valid_to_pull_id = c.pull_id
from changes as c
where v.is_current
    and v.license = c.license
    and v.provider = c.provider
    and v.model_id = c.model_id
    and c.was_current
    and (not c.is_present or c.rate_changed or c.limits_changed or c.renamed)
