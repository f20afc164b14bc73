-- Version 1: the schema of the release before versioned migrations (main at afb56f3),
-- as tortoise-orm built it. Applied only to a database without schema_version, where
-- every statement is IF NOT EXISTS: it completes a database of an even older release.
CREATE TABLE IF NOT EXISTS "carriers" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "code" VARCHAR(16) NOT NULL UNIQUE,
    "name" VARCHAR(32) NOT NULL,
    "enabled" INT NOT NULL,
    "sandbox" INT NOT NULL
);
CREATE TABLE IF NOT EXISTS "carrier_coverage" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "place" VARCHAR(32) NOT NULL,
    "excluded" INT NOT NULL,
    "carrier_id" INT NOT NULL REFERENCES "carriers" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_carrier_cov_carrier_c62668" UNIQUE ("carrier_id", "place")
) /* A place a carrier serves (province, city or named region) or excludes. */;
CREATE TABLE IF NOT EXISTS "counters" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "name" VARCHAR(32) NOT NULL UNIQUE,
    "value" BIGINT NOT NULL
) /* Named counters; `catalog` is bumped whenever products or warehouses change, so every */;
CREATE TABLE IF NOT EXISTS "customers" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "code" VARCHAR(32) NOT NULL UNIQUE,
    "name" VARCHAR(128) NOT NULL,
    "aliases" JSON NOT NULL,
    "credit_limit" VARCHAR(40) NOT NULL,
    "exposure" VARCHAR(40) NOT NULL,
    "contact" VARCHAR(64) NOT NULL,
    "phone" VARCHAR(32) NOT NULL,
    "address" VARCHAR(256) NOT NULL,
    "invoice_type" VARCHAR(8) NOT NULL,
    "tax_id" VARCHAR(32) NOT NULL,
    "bank" VARCHAR(128) NOT NULL,
    "account" VARCHAR(64) NOT NULL,
    "openid" VARCHAR(64),
    "wecom_userid" VARCHAR(64),
    "sales_owner" VARCHAR(64),
    "active" INT NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "orders" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "no" VARCHAR(24) NOT NULL UNIQUE,
    "idempotency_key" VARCHAR(128) UNIQUE,
    "status" VARCHAR(20) NOT NULL /* draft: draft\nconfirmed: confirmed\nallocated: allocated\nshipped: shipped\nin_transit: in_transit\nout_for_delivery: out_for_delivery\ndelivered: delivered\non_hold: on_hold\ncancelled: cancelled\nexception: exception */,
    "channel" VARCHAR(16) NOT NULL,
    "campaign" VARCHAR(32),
    "salesperson" VARCHAR(64),
    "priority" INT NOT NULL,
    "preferred_warehouse" VARCHAR(32),
    "address_raw" VARCHAR(256) NOT NULL,
    "province" VARCHAR(32) NOT NULL,
    "city" VARCHAR(32) NOT NULL,
    "district" VARCHAR(32) NOT NULL,
    "adcode" VARCHAR(12) NOT NULL,
    "lat" REAL,
    "lon" REAL,
    "invoice_type" VARCHAR(8) NOT NULL,
    "tax_id" VARCHAR(32) NOT NULL,
    "bank" VARCHAR(128) NOT NULL,
    "account" VARCHAR(64) NOT NULL,
    "total" VARCHAR(40) NOT NULL,
    "gates" JSON NOT NULL,
    "credit_released_by" VARCHAR(64),
    "promised_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL,
    "confirmed_at" TIMESTAMP,
    "shipped_at" TIMESTAMP,
    "delivered_at" TIMESTAMP,
    "paid_at" TIMESTAMP,
    "customer_id" INT NOT NULL REFERENCES "customers" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_orders_status_33ec6d" ON "orders" ("status");
CREATE INDEX IF NOT EXISTS "idx_orders_custome_384e97" ON "orders" ("customer_id");
CREATE TABLE IF NOT EXISTS "order_log" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "actor" VARCHAR(64) NOT NULL,
    "action" VARCHAR(32) NOT NULL,
    "from_status" VARCHAR(20),
    "to_status" VARCHAR(20),
    "detail" JSON NOT NULL,
    "order_id" INT NOT NULL REFERENCES "orders" ("id") ON DELETE CASCADE
) /* Append-only: rows are inserted, never updated or deleted. */;
CREATE INDEX IF NOT EXISTS "idx_order_log_order_i_c5c373" ON "order_log" ("order_id");
CREATE TABLE IF NOT EXISTS "products" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "sku" VARCHAR(32) NOT NULL UNIQUE,
    "name" VARCHAR(128) NOT NULL,
    "category" VARCHAR(16) NOT NULL,
    "brand" VARCHAR(64) NOT NULL,
    "unit" VARCHAR(8) NOT NULL,
    "price" VARCHAR(40) NOT NULL,
    "models" VARCHAR(256) NOT NULL,
    "active" INT NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_products_categor_757108" ON "products" ("category");
CREATE TABLE IF NOT EXISTS "order_lines" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "sku" VARCHAR(32) NOT NULL,
    "name" VARCHAR(128) NOT NULL,
    "category" VARCHAR(16) NOT NULL,
    "qty" INT NOT NULL,
    "unit_price" VARCHAR(40) NOT NULL,
    "amount" VARCHAR(40) NOT NULL,
    "order_id" INT NOT NULL REFERENCES "orders" ("id") ON DELETE CASCADE,
    "product_id" INT NOT NULL REFERENCES "products" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_order_lines_order_i_471566" ON "order_lines" ("order_id");
CREATE TABLE IF NOT EXISTS "app_secrets" (
    "name" VARCHAR(32) NOT NULL PRIMARY KEY,
    "value" VARCHAR(128) NOT NULL
) /* Keys the application made for itself when none was configured (e.g. the tracking-link */;
CREATE TABLE IF NOT EXISTS "staff" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "userid" VARCHAR(64) NOT NULL UNIQUE,
    "name" VARCHAR(64) NOT NULL,
    "role" VARCHAR(16) NOT NULL /* sales: sales\nmanager: manager\nwarehouse: warehouse\nfinance: finance\nadmin: admin */,
    "mobile" VARCHAR(32) NOT NULL,
    "group_chat" VARCHAR(64),
    "active" INT NOT NULL
);
CREATE TABLE IF NOT EXISTS "warehouses" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "code" VARCHAR(32) NOT NULL UNIQUE,
    "name" VARCHAR(64) NOT NULL,
    "kind" VARCHAR(8) NOT NULL /* physical: physical\nvirtual: virtual */,
    "city" VARCHAR(32) NOT NULL,
    "province" VARCHAR(32) NOT NULL,
    "address" VARCHAR(256) NOT NULL,
    "lat" REAL,
    "lon" REAL,
    "cutoff" VARCHAR(5) NOT NULL,
    "active" INT NOT NULL
);
CREATE TABLE IF NOT EXISTS "shipments" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "seq" INT NOT NULL,
    "carrier" VARCHAR(16),
    "waybill_no" VARCHAR(40) UNIQUE,
    "status" VARCHAR(20) NOT NULL /* draft: draft\nconfirmed: confirmed\nallocated: allocated\nshipped: shipped\nin_transit: in_transit\nout_for_delivery: out_for_delivery\ndelivered: delivered\non_hold: on_hold\ncancelled: cancelled\nexception: exception */,
    "reserved" INT NOT NULL,
    "promised_at" TIMESTAMP,
    "shipped_at" TIMESTAMP,
    "delivered_at" TIMESTAMP,
    "lines" JSON NOT NULL,
    "order_id" INT NOT NULL REFERENCES "orders" ("id") ON DELETE CASCADE,
    "warehouse_id" INT NOT NULL REFERENCES "warehouses" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_shipments_order_i_bf0e46" UNIQUE ("order_id", "seq")
);
CREATE INDEX IF NOT EXISTS "idx_shipments_order_i_56faf1" ON "shipments" ("order_id");
CREATE TABLE IF NOT EXISTS "stock" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "on_hand" INT NOT NULL,
    "reserved" INT NOT NULL,
    "safety_stock" INT NOT NULL,
    "product_id" INT NOT NULL REFERENCES "products" ("id") ON DELETE CASCADE,
    "warehouse_id" INT NOT NULL REFERENCES "warehouses" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_stock_product_4e4795" UNIQUE ("product_id", "warehouse_id")
) /* One row per warehouse × product; available = on_hand - reserved. */;
CREATE TABLE IF NOT EXISTS "seen_callbacks" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(255) NOT NULL UNIQUE,
    "received_at" TIMESTAMP NOT NULL
) /* One row per callback already handled; the unique key makes a WeCom retry a no-op. */;
CREATE INDEX IF NOT EXISTS "idx_seen_callba_receive_791f2b" ON "seen_callbacks" ("received_at");
CREATE TABLE IF NOT EXISTS "chat_cards" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "task_id" VARCHAR(128) NOT NULL UNIQUE,
    "order_no" VARCHAR(24) NOT NULL,
    "user_id" VARCHAR(64) NOT NULL,
    "chat_id" VARCHAR(64),
    "kind" VARCHAR(16) NOT NULL,
    "state" VARCHAR(16) NOT NULL,
    "response_code" VARCHAR(128),
    "payload" JSON NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
) /* One interactive order card as a user sees it. State lives here, not in memory. */;
CREATE INDEX IF NOT EXISTS "idx_chat_cards_order_n_815550" ON "chat_cards" ("order_no");
CREATE TABLE IF NOT EXISTS "chat_questions" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "user_id" VARCHAR(64) NOT NULL,
    "subject" VARCHAR(64) NOT NULL,
    "at" TIMESTAMP NOT NULL
) /* A question asked in chat (查物流, 查单, 查库存), counted per day on the dashboard. */;
CREATE INDEX IF NOT EXISTS "idx_chat_questi_kind_0b53ec" ON "chat_questions" ("kind");
CREATE INDEX IF NOT EXISTS "idx_chat_questi_at_712648" ON "chat_questions" ("at");
CREATE TABLE IF NOT EXISTS "outbox" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "dedup_key" VARCHAR(255) NOT NULL UNIQUE,
    "event" VARCHAR(32) NOT NULL,
    "channel" VARCHAR(16) NOT NULL,
    "recipient" VARCHAR(128) NOT NULL,
    "template" VARCHAR(64) NOT NULL,
    "context" JSON NOT NULL,
    "order_no" VARCHAR(24),
    "status" VARCHAR(8) NOT NULL /* pending: pending\nsending: sending\nsent: sent\ndead: dead */,
    "quiet" INT NOT NULL,
    "attempts" INT NOT NULL,
    "not_before" TIMESTAMP,
    "next_attempt_ms" BIGINT,
    "claimed_by" VARCHAR(64),
    "claimed_until_ms" BIGINT,
    "sent_at" TIMESTAMP,
    "remote_id" VARCHAR(128),
    "rendered" TEXT,
    "last_error" TEXT,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_outbox_order_n_494354" ON "outbox" ("order_no");
CREATE INDEX IF NOT EXISTS "idx_outbox_status_9c8966" ON "outbox" ("status");
CREATE INDEX IF NOT EXISTS "idx_outbox_channel_00e6e9" ON "outbox" ("channel", "next_attempt_ms");
CREATE TABLE IF NOT EXISTS "shipment_tracking" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "next_poll_at" TIMESTAMP,
    "last_polled_at" TIMESTAMP,
    "last_event_at" TIMESTAMP,
    "status" VARCHAR(20) NOT NULL,
    "stuck_alerted_at" TIMESTAMP,
    "subscribed" INT NOT NULL,
    "shipment_id" INT NOT NULL UNIQUE REFERENCES "shipments" ("id") ON DELETE CASCADE
) /* Poll state of one shipment: when next to ask, what was last seen, alerts sent. */;
CREATE INDEX IF NOT EXISTS "idx_shipment_tr_next_po_354663" ON "shipment_tracking" ("next_poll_at");
CREATE TABLE IF NOT EXISTS "tracking_events" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "carrier" VARCHAR(16) NOT NULL,
    "waybill" VARCHAR(40) NOT NULL,
    "status" VARCHAR(20) NOT NULL /* INFO_RECEIVED: info_received\nCOLLECTED: collected\nIN_TRANSIT: in_transit\nOUT_FOR_DELIVERY: out_for_delivery\nDELIVERED: delivered\nEXCEPTION: exception\nRETURNED: returned */,
    "occurred_at" TIMESTAMP NOT NULL,
    "location" VARCHAR(128) NOT NULL,
    "description" VARCHAR(500) NOT NULL,
    "raw" JSON NOT NULL,
    "received_at" TIMESTAMP NOT NULL,
    "dedupe_key" VARCHAR(64) NOT NULL UNIQUE,
    "shipment_id" INT NOT NULL REFERENCES "shipments" ("id") ON DELETE CASCADE
) /* One carrier event of one shipment, normalised; append-only in practice. */;
CREATE INDEX IF NOT EXISTS "idx_tracking_ev_shipmen_c08712" ON "tracking_events" ("shipment_id");
CREATE TABLE IF NOT EXISTS "shipping_holds" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "carrier" VARCHAR(16) NOT NULL,
    "reason" TEXT NOT NULL,
    "attempts" INT NOT NULL,
    "retry_at" TIMESTAMP,
    "first_failed_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "shipment_id" INT NOT NULL UNIQUE REFERENCES "shipments" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_shipping_ho_retry_a_cf1427" ON "shipping_holds" ("retry_at");
CREATE TABLE IF NOT EXISTS "transit_stats" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "carrier" VARCHAR(16) NOT NULL,
    "warehouse" VARCHAR(32) NOT NULL,
    "province" VARCHAR(32) NOT NULL,
    "city" VARCHAR(32) NOT NULL,
    "samples" INT NOT NULL,
    "hours" INT NOT NULL,
    "p50" REAL NOT NULL,
    "configured" REAL NOT NULL,
    "computed_at" TIMESTAMP NOT NULL,
    CONSTRAINT "uid_transit_sta_carrier_a7f662" UNIQUE ("carrier", "warehouse", "province", "city")
);
