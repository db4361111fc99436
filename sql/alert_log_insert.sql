-- mark ledger log files as applied
insert into alert_log
select unnest($files) as file
