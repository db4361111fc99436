-- qcat sql: a query that names a URL or an unknown format must not install DuckDB extensions (a
-- download into the user's home); already installed ones still load
set autoinstall_known_extensions = false
