-- Version 7: parcel weight per unit from the product master (import column 重量) and the
-- warehouse's sender contact and phone on e-waybills (import columns 联系人, 电话).
-- Existing rows get '' and the default goes again, as in a fresh schema (the ORM sets it).
ALTER TABLE "products" ADD COLUMN "weight_kg" DECIMAL(10,3);
ALTER TABLE "warehouses" ADD COLUMN "contact" VARCHAR(32) NOT NULL DEFAULT '';
ALTER TABLE "warehouses" ALTER COLUMN "contact" DROP DEFAULT;
ALTER TABLE "warehouses" ADD COLUMN "phone" VARCHAR(32) NOT NULL DEFAULT '';
ALTER TABLE "warehouses" ALTER COLUMN "phone" DROP DEFAULT;
