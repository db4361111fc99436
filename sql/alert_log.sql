-- the ledger log files (archive/alerts) already applied to alert_deliveries
create table if not exists alert_log (
    file varchar primary key
)
