-- Version 6: delivery history imported with 'bot.py import deliveries' and the learnt promise
-- waves per lane and departure weekday (storage/transit_models.py).
CREATE TABLE IF NOT EXISTS "delivery_history" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "waybill_no" VARCHAR(64) NOT NULL UNIQUE,
    "carrier" VARCHAR(16) NOT NULL,
    "warehouse" VARCHAR(32) NOT NULL,
    "address" VARCHAR(255) NOT NULL,
    "province" VARCHAR(32) NOT NULL,
    "city" VARCHAR(32) NOT NULL,
    "confirmed_at" TIMESTAMPTZ NOT NULL,
    "shipped_at" TIMESTAMPTZ NOT NULL,
    "delivered_at" TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_delivery_hi_deliver_955ebc" ON "delivery_history" ("delivered_at");
COMMENT ON TABLE "delivery_history" IS 'One delivered parcel from history brought in by `bot.py import deliveries` (the old';
CREATE TABLE IF NOT EXISTS "promise_waves" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "carrier" VARCHAR(16) NOT NULL,
    "warehouse" VARCHAR(32) NOT NULL,
    "province" VARCHAR(32) NOT NULL,
    "city" VARCHAR(32) NOT NULL,
    "weekday" INT NOT NULL,
    "minute" INT NOT NULL,
    "samples" INT NOT NULL,
    "within" DOUBLE PRECISION NOT NULL,
    "computed_at" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "uid_promise_wav_carrier_7fc73b" UNIQUE ("carrier", "warehouse", "province", "city", "weekday")
);
COMMENT ON TABLE "promise_waves" IS 'The learnt promise for one lane and departure weekday (bot/calibration.py): the';
