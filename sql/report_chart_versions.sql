-- every version of the charted models, in any catalog, in effect at some point of [$since, $until],
-- in the order they were applied (two pulls of one instant leave an empty version before the other)
select
    model_id,
    license,
    provider,
    name,
    input_cost_per_micro_credit as input,
    output_cost_per_micro_credit as output,
    greatest(valid_from, $since) as valid_from,
    valid_to
from model_versions
where model_id in (select unnest($model_ids))
    and valid_from <= $until
    and (valid_to is null or valid_to > $since)
order by model_id, license, provider, valid_from, valid_from_pull_id
