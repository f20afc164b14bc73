-- Version 7: parcel weight per unit from the product master (import column 重量) and the
-- warehouse's sender contact and phone on e-waybills (import columns 联系人, 电话).
ALTER TABLE "products" ADD COLUMN "weight_kg" VARCHAR(40);
ALTER TABLE "warehouses" ADD COLUMN "contact" VARCHAR(32) NOT NULL DEFAULT '';
ALTER TABLE "warehouses" ADD COLUMN "phone" VARCHAR(32) NOT NULL DEFAULT '';
