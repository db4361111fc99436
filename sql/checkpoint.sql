-- write a rebuilt database out in full before it replaces the old file: no WAL goes with it
checkpoint
