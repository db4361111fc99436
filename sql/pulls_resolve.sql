-- settle a suspect pull once the next valid pull of its catalog has been seen
update pulls
set resolution = $resolution
where pull_id = $pull_id
