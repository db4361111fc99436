-- qcat changes as a table: what changed in words (fetching fewer columns is most of its speed)
select observed_at, license, provider, model_id, event_type, change
from changes_between(
    $since, $until, types := $types, min_pct := $min_pct, direction := $direction,
    licenses := $licenses, providers := $providers, model_glob := $model_glob
)
