-- qcat rates as rows (json, csv)
from rates_filtered($as_of, $licenses, $providers, $model_glob)
order by license, provider, model_id
