-- model ids matching a glob: what `qcat history` suggests for an id it does not know
select distinct model_id
from model_versions
where lower(model_id) glob lower($model_glob)
order by model_id
limit 8
