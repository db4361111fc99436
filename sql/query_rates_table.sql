-- qcat rates as a table, laid out by DuckDB: every catalog is tens of thousands of rows, which
-- fetching and padding in Python would take a third of the command's time over. Each value reads
-- as in Python's layout (tests compare the two): a double cast to text is its shortest round-trip
-- form, as repr; null is '-'; numbers align right, text left. The last column, valid_from, is left to
-- Python (naive UTC here), which shows every time in --tz by the same zone rules. Out come the
-- header, the rule and the rows, each ending where valid_from begins. Ids and names go through
-- printable (sql/printable.sql), as Python's layout does
with shown as (
    select
        license,
        provider,
        model_id,
        printable(model_id) as model_shown,
        printable(coalesce(name, '-')) as name,
        input_cost_per_micro_credit::varchar as input,
        output_cost_per_micro_credit::varchar as output,
        coalesce(context_window::varchar, '-') as context,
        coalesce(max_output_tokens::varchar, '-') as max_output,
        valid_from
    from rates_filtered($as_of, $licenses, $providers, $model_glob)
),

widths as (
    select
        greatest(7, max(length(license)))::integer as license,
        greatest(8, max(length(provider)))::integer as provider,
        greatest(8, max(length(model_shown)))::integer as model_id,
        greatest(4, max(length(name)))::integer as name,
        greatest(5, max(length(input)))::integer as input,
        greatest(6, max(length(output)))::integer as output,
        greatest(7, max(length(context)))::integer as context,
        greatest(10, max(length(max_output)))::integer as max_output
    from shown
),

lines as (
    select
        0 as part, null as license, null as provider, null as model_id, null::timestamp as valid_from,
        concat_ws(
            '  ',
            rpad('license', w.license, ' '), rpad('provider', w.provider, ' '), rpad('model_id', w.model_id, ' '),
            rpad('name', w.name, ' '), lpad('input', w.input, ' '), lpad('output', w.output, ' '),
            lpad('context', w.context, ' '), lpad('max output', w.max_output, ' '), ''
        ) as line
    from widths as w
    union all
    select
        1, null, null, null, null,
        concat_ws(
            '  ',
            repeat('-', w.license), repeat('-', w.provider), repeat('-', w.model_id), repeat('-', w.name),
            repeat('-', w.input), repeat('-', w.output), repeat('-', w.context), repeat('-', w.max_output), ''
        )
    from widths as w
    union all
    select
        2, s.license, s.provider, s.model_id, s.valid_from,
        concat_ws(
            '  ',
            rpad(s.license, w.license, ' '), rpad(s.provider, w.provider, ' '), rpad(s.model_shown, w.model_id, ' '),
            rpad(s.name, w.name, ' '), lpad(s.input, w.input, ' '), lpad(s.output, w.output, ' '),
            lpad(s.context, w.context, ' '), lpad(s.max_output, w.max_output, ' '), ''
        )
    from shown as s, widths as w
)

select line, valid_from
from lines
order by part, license, provider, model_id
