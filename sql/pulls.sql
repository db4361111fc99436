-- one row per pull of a catalog, failures included (`attempts` counts its HTTP requests); derived from archive/pulls
create table if not exists pulls (
    pull_id varchar primary key,
    license varchar not null,
    provider varchar not null,
    observed_at timestamptz not null,
    status varchar not null,            -- ok | auth_error | unavailable | invalid | suspect
    http_status integer,
    attempts integer not null,
    model_count integer,
    content_sha256 varchar,
    error varchar,
    resolution varchar,                 -- suspect pulls only: pending | confirmed | dismissed
    removed_count integer,              -- valid pulls: current models the pull lacked when it arrived
    warnings varchar[],
    origin varchar not null             -- live (pulled by qcat) | import (qcat import)
);
