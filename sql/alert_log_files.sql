-- ledger log files applied so far
select file
from alert_log
