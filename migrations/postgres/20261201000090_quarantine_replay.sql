-- Issue 15: `starling quarantine replay` ingests a kept body again, through its
-- source's normalizer. The row stays (the authentic payload, for the record):
-- replayed_at and event_id say what it became; a body still refused gets the
-- current reason and the time of the attempt. event_id is not a foreign key:
-- retention may prune the event and must not be stopped by its quarantine row.
ALTER TABLE quarantine ADD COLUMN replayed_at     TIMESTAMPTZ; -- when a replay made it an event
ALTER TABLE quarantine ADD COLUMN event_id        BIGINT;      -- the event it became (or was a sighting of)
ALTER TABLE quarantine ADD COLUMN replay_tried_at TIMESTAMPTZ; -- latest replay attempt
