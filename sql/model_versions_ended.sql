-- scd type 2, the versions that ended: a model changed or left its catalog at valid_to, observed by
-- the pull valid_to_pull_id. The current versions' columns; a table made this way lacks their
-- constraints, which model_versions_ended_not_null.sql adds
create table if not exists model_versions_ended as
from model_versions_current
limit 0
