-- a writer's statements (a nightly load, alerts, an import) touch a few thousand rows each: a
-- second thread costs more to coordinate than it saves (a night of 50 catalogs on two cores:
-- 55.5 ms against 58.9 ms). The rebuild, which reads a whole history at once, resets it
set threads = 1
