-- which (alert, channel) pairs the ledger holds already, whatever their state
select alert_key, channel
from alert_deliveries
where alert_key in (select unnest($alert_keys))
