-- a new file records the layout it was created with
insert into qcat_schema
select $version
where not exists (select 1 from qcat_schema)
