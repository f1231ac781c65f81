-- The client's own X-Request-Id, kept beside the server's request id (which the server always
-- generates): support searches by either. Null when the client sent none or an unusable one.
ALTER TABLE sync_events ADD COLUMN client_request_id text;
CREATE INDEX sync_events_client_request_idx ON sync_events (client_request_id) WHERE client_request_id IS NOT NULL;
