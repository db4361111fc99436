-- every connection qcat opens: times in UTC whatever the machine's zone (readers convert for
-- display), and no progress bar drawn over qcat's own output
set timezone = 'UTC';
set enable_progress_bar = false
