-- Version 3: one row per reservation (storage/reservations.py).
CREATE TABLE IF NOT EXISTS "reservations" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "qty" INT NOT NULL,
    "state" VARCHAR(10) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "closed_at" TIMESTAMPTZ,
    "order_id" INT NOT NULL REFERENCES "orders" ("id") ON DELETE CASCADE,
    "order_line_id" INT NOT NULL REFERENCES "order_lines" ("id") ON DELETE CASCADE,
    "product_id" INT NOT NULL REFERENCES "products" ("id") ON DELETE CASCADE,
    "warehouse_id" INT NOT NULL REFERENCES "warehouses" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_reservation_state_c1fc74" ON "reservations" ("state");
CREATE INDEX IF NOT EXISTS "idx_reservation_order_i_21e962" ON "reservations" ("order_id");
COMMENT ON COLUMN "reservations"."state" IS 'active: active\nreleased: released\nconsumed: consumed';
COMMENT ON TABLE "reservations" IS '`qty` of a product held in a warehouse for one order line.';
