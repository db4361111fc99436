-- text from the gateway laid out for a terminal (qcat rates' table): the characters a terminal acts
-- on rather than shows (an escape sequence, a carriage return or line break, a direction mark or
-- bidi control, a line separator) appear as their escapes, \x1b or \u202e, as Python's
-- output.printable writes them (its UNPRINTABLE is this class). Only text holding one is split into
-- characters. A temporary macro: created by the query that uses it, and no part of the database's layout
create or replace temp macro printable(
    text,
    unprintable := '[\x00-\x1f\x7f-\x{9f}\x{061c}\x{200e}\x{200f}\x{2028}-\x{202e}\x{2066}-\x{2069}]'
) as
if(
    regexp_matches(text, unprintable),
    array_to_string(
        list_transform(
            string_split(text, ''),
            lambda ch: if(
                regexp_matches(ch, unprintable),
                if(unicode(ch) < 256, printf('\x%02x', unicode(ch)), printf('\u%04x', unicode(ch))),
                ch
            )
        ),
        ''
    ),
    text
)
