-- percent change of a rate; null from 0, where no percentage exists (the old and new values say it)
create or replace macro pct_change(old_rate, new_rate) as
    case when old_rate <> 0 then (new_rate - old_rate) / old_rate * 100 end
