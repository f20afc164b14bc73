-- Version 2: the transactional inbox of WeCom callbacks (storage/inbox_models.py).
CREATE TABLE IF NOT EXISTS "callback_inbox" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(255) NOT NULL UNIQUE,
    "source" VARCHAR(8) NOT NULL,
    "payload" JSON NOT NULL,
    "status" VARCHAR(8) NOT NULL,
    "attempts" INT NOT NULL,
    "due_ms" BIGINT,
    "claimed_by" VARCHAR(64),
    "result" JSON,
    "last_error" TEXT,
    "received_at" TIMESTAMP NOT NULL,
    "finished_at" TIMESTAMP
) /* One callback, stored before WeCom gets its answer; worked once, then kept a while as */;
CREATE INDEX IF NOT EXISTS "idx_callback_in_due_ms_6f6f62" ON "callback_inbox" ("due_ms");
CREATE INDEX IF NOT EXISTS "idx_callback_in_finishe_9199ef" ON "callback_inbox" ("finished_at");
