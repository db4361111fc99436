-- end the current version of every model that changed or disappeared in an applied pull: it moves
-- to the ended versions; the diff kept its rowid, so no search through the table is needed
insert into model_versions_ended by name
select v.* replace (c.observed_at as valid_to, false as is_current, c.pull_id as valid_to_pull_id)
from model_versions_current as v
join changes as c on v.rowid = c.version_rowid
where c.ends_version;
delete from model_versions_current
where rowid in (select version_rowid from changes where ends_version)
