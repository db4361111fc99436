-- the round's pull records, with the status the shrink guard gave them
insert into pulls by name
select * from incoming_pulls
