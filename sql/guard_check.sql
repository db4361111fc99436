-- per pull being applied: how many of its catalog's current models it lacks (the shrink guard's input)
select pull_id, count(*) as missing_count
from changes
where presence_change = 'removed'
group by pull_id
