-- an event's id: the same history always yields the same ids, whether loaded night by night
-- (catalog_events_insert.sql) or rebuilt at once (replay_catalog_events.sql), which both call this.
-- A temporary macro: created by every writer's connection, and no part of the database's layout
create or replace temp macro event_id(pull_id, license, provider, model_id, event_type) as
    md5(concat_ws('|', pull_id, license, provider, model_id, event_type))
