-- a file upgraded in place records its new layout (the highest one recorded is the file's)
insert into qcat_schema
values ($version)
