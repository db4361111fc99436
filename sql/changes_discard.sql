-- pulls held back by the shrink guard apply nothing
delete from changes
where pull_id in (select unnest($pull_ids))
