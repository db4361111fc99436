-- drop one catalog's derived rows before replaying it from the archive
delete from pulls where license = $license and provider = $provider;
delete from model_versions_current where license = $license and provider = $provider;
delete from model_versions_ended where license = $license and provider = $provider;
delete from catalog_events where license = $license and provider = $provider;
