-- the span of the history: the report's window ends at the latest pull, so the same database gives the same report
select min(observed_at) as first_pull_at, max(observed_at) as last_pull_at
from pulls
