-- percent change of a rate; null from 0, where no percentage exists (the old and new values say it).
-- Kept to 12 significant digits: floating-point division leaves the 10% cut 0.0015 -> 0.00135 at
-- -9.999999999999998, which `abs(input_pct_change) >= 10` (or --min-pct 10, or an alert rule's
-- min_pct = 10) would miss. Twelve digits still show a move in the last digit of a rate (about 1e-14 percent)
create or replace macro pct_change(old_rate, new_rate) as
    case when old_rate <> 0 then printf('%.12g', (new_rate - old_rate) / old_rate * 100)::double end
