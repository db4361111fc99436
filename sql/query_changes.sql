-- qcat changes --format json|csv: every column of the events in the window
select *
from changes_between(
    $since, $until, types := $types, min_pct := $min_pct, direction := $direction,
    licenses := $licenses, providers := $providers, model_glob := $model_glob
)
