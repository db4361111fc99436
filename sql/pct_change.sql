-- percent change of a rate; 0 where it did not move (a rate_changed event holds both rates, one of
-- them maybe unmoved, even at 0), null from 0, where no percentage exists (the old and new values say it).
-- Kept to 10 significant digits: floating-point arithmetic leaves the 10% cut 0.0015 -> 0.00135 at
-- -9.999999999999998, which `abs(input_pct_change) >= 10` (or --min-pct 10, or an alert rule's
-- min_pct = 10) would miss. Ten digits absorb that error for moves down to 0.001% and still show a
-- move in the last digit of a rate (0.0016 -> 0.0016000000000001 is about 6e-12 percent)
create or replace macro pct_change(old_rate, new_rate) as
    case when old_rate = new_rate then 0.0 when old_rate <> 0 then printf('%.10g', (new_rate - old_rate) / old_rate * 100)::double end
