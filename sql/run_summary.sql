-- how each pull of a run ended up after the shrink guard; a pull held back says what it lacks or
-- brings (its catalog's current models are still those of its last applied pull, so the new ones
-- are the models it lists beyond the current ones it kept)
with judged as (
    select
        p.*,
        s.last_applied_model_count as current_count,
        p.model_count - (s.last_applied_model_count - p.removed_count) as added_count
    from pulls as p
    left join catalog_state as s using (license, provider)
    where p.pull_id in (select unnest($pull_ids))
)

select
    pull_id,
    license,
    provider,
    status,
    model_count,
    case
        when resolution = 'pending' then concat_ws(
            ' and ',
            if(removed_count > 0, format('lacks {} of the catalog''s {} current models', removed_count, current_count), null),
            if(added_count > 0, format('lists {} models beyond the catalog''s {} current ones', added_count, current_count), null)
        ) || ': held back until the next valid pull confirms or dismisses it'
        else error
    end as error,
    resolution
from judged
