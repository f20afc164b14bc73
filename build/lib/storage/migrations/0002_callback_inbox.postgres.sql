-- Version 2: the transactional inbox of WeCom callbacks (storage/inbox_models.py).
CREATE TABLE IF NOT EXISTS "callback_inbox" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "key" VARCHAR(255) NOT NULL UNIQUE,
    "source" VARCHAR(8) NOT NULL,
    "payload" JSONB NOT NULL,
    "status" VARCHAR(8) NOT NULL,
    "attempts" INT NOT NULL,
    "due_ms" BIGINT,
    "claimed_by" VARCHAR(64),
    "result" JSONB,
    "last_error" TEXT,
    "received_at" TIMESTAMPTZ NOT NULL,
    "finished_at" TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS "idx_callback_in_due_ms_6f6f62" ON "callback_inbox" ("due_ms");
CREATE INDEX IF NOT EXISTS "idx_callback_in_finishe_9199ef" ON "callback_inbox" ("finished_at");
COMMENT ON TABLE "callback_inbox" IS 'One callback, stored before WeCom gets its answer; worked once, then kept a while as';
