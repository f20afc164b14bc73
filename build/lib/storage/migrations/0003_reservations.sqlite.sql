-- Version 3: one row per reservation (storage/reservations.py); rows of orders reserved before
-- this version are written from their shipments on demand and by `bot.py stock reconcile`.
CREATE TABLE IF NOT EXISTS "reservations" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "qty" INT NOT NULL,
    "state" VARCHAR(10) NOT NULL /* active: active\nreleased: released\nconsumed: consumed */,
    "created_at" TIMESTAMP NOT NULL,
    "closed_at" TIMESTAMP,
    "order_id" INT NOT NULL REFERENCES "orders" ("id") ON DELETE CASCADE,
    "order_line_id" INT NOT NULL REFERENCES "order_lines" ("id") ON DELETE CASCADE,
    "product_id" INT NOT NULL REFERENCES "products" ("id") ON DELETE CASCADE,
    "warehouse_id" INT NOT NULL REFERENCES "warehouses" ("id") ON DELETE CASCADE
) /* `qty` of a product held in a warehouse for one order line. */;
CREATE INDEX IF NOT EXISTS "idx_reservation_state_c1fc74" ON "reservations" ("state");
CREATE INDEX IF NOT EXISTS "idx_reservation_order_i_21e962" ON "reservations" ("order_id");
