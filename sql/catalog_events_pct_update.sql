-- layouts 6 to 7 and 7 to 8: percent changes again from the stored old and new rates, as pct_change
-- now gives them (10 significant digits; 0 for an unmoved rate, even at 0), so that an upgraded file
-- holds what a rebuild would derive
update catalog_events
set
    input_pct_change = pct_change(old_input_cost_per_micro_credit, new_input_cost_per_micro_credit),
    output_pct_change = pct_change(old_output_cost_per_micro_credit, new_output_cost_per_micro_credit)
where event_type = 'rate_changed'
