-- Version 4: API keys with roles (storage/key_models.py) and the idempotency fingerprint of
-- the request an order's key first came with (a NULL fingerprint matches any body).
CREATE TABLE IF NOT EXISTS "api_keys" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(64) NOT NULL,
    "role" VARCHAR(16) NOT NULL,
    "key_hash" VARCHAR(64) NOT NULL UNIQUE,
    "prefix" VARCHAR(12) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "revoked_at" TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS "idx_api_keys_name_797d8d" ON "api_keys" ("name");
COMMENT ON TABLE "api_keys" IS 'One issued key. Only the SHA-256 of the key is kept; the key itself is printed once.';
ALTER TABLE "orders" ADD COLUMN "idempotency_fingerprint" VARCHAR(64);
