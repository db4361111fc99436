-- the ended versions' constraints: those of the current versions, and an ended version always has
-- its end. Run on every new file, and on a layout 7 file (upgrading to 8), whose table lacked them
alter table model_versions_ended alter column license set not null;
alter table model_versions_ended alter column provider set not null;
alter table model_versions_ended alter column model_id set not null;
alter table model_versions_ended alter column input_cost_per_micro_credit set not null;
alter table model_versions_ended alter column output_cost_per_micro_credit set not null;
alter table model_versions_ended alter column valid_from set not null;
alter table model_versions_ended alter column valid_to set not null;
alter table model_versions_ended alter column is_current set not null;
alter table model_versions_ended alter column valid_from_pull_id set not null;
alter table model_versions_ended alter column valid_to_pull_id set not null
