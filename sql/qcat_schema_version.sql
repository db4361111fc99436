-- the layout version of this file; a file without the table predates versioning
select max(version) from qcat_schema
