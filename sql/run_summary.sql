-- how each pull of a run ended up after the shrink guard; a shrink held back says what it lacks
-- (its catalog's current models are still those of its last applied pull)
select
    p.pull_id,
    p.license,
    p.provider,
    p.status,
    p.model_count,
    case
        when p.resolution = 'pending' then format(
            'lacks {} of the catalog''s {} current models: held back until the next valid pull confirms or dismisses it',
            p.removed_count,
            s.last_applied_model_count
        )
        else p.error
    end as error,
    p.resolution
from pulls as p
left join catalog_state as s using (license, provider)
where p.pull_id in (select unnest($pull_ids))
