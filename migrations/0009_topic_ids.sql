-- The Kafka topic id (KIP-516) of the topic whose offsets a consumer's positions are. A topic deleted
-- and created again under the same name gets a new id and starts again at offset 0, while the
-- positions recorded for the old one are higher: read as replays, the new topic's first events
-- would be skipped. The projector compares the ids before it joins its group and, when they
-- differ, drops the old topic's positions (projector.offsets).
-- A new table: nothing on enrichment_logs is locked or rewritten.
CREATE TABLE IF NOT EXISTS enrichment_log_topics (
    consumer    text        NOT NULL,
    topic       text        NOT NULL,
    topic_id    uuid        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic)
);

COMMENT ON TABLE enrichment_log_topics IS
    'the Kafka topic id that the positions of (consumer, topic) in enrichment_log_positions were read from';
