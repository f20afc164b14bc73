"""E-waybills for shipments: from the carrier's own API when its keys are set, else from
the sandbox carrier (SBX numbers that the sandbox then tracks). The carrier order id is
`{order no}-{shipment seq}`, so asking twice never makes two waybills at the carrier."""

from __future__ import annotations

from collections.abc import Mapping

from integrations.carriers import sandbox
from integrations.carriers.base import CarrierClient, Party, WaybillRequest
from storage.models import Customer, Order, OrderLine, Shipment, Warehouse


class Waybills:
    """`await waybills(order, shipment) -> waybill number`, as OrderService.ship expects."""

    def __init__(self, clients: Mapping[str, CarrierClient]) -> None:
        self.clients = clients

    async def __call__(self, order: Order, shipment: Shipment) -> str:
        client = self.clients.get(shipment.carrier or "")
        if client is None:
            return await sandbox.issue_waybill(order, shipment)
        result = await client.create_waybill(await request_for(order, shipment))
        return result.waybill_no


async def request_for(order: Order, shipment: Shipment) -> WaybillRequest:
    wh = await Warehouse.get(id=shipment.warehouse_id)
    customer = await Customer.get(id=order.customer_id)
    qty = sum(int(ln["qty"]) for ln in shipment.lines)
    skus = [ln["sku"] for ln in shipment.lines]
    names = await OrderLine.filter(order_id=order.id, sku__in=skus).values_list("name", flat=True)
    return WaybillRequest(
        order_no=order.no, shipment_seq=shipment.seq,
        sender=Party(wh.name, "", _province(wh.province), _city(wh.city), "", wh.address,
                     company="履约配送中心"),
        receiver=Party(customer.contact or customer.name, customer.phone, order.province,
                       order.city, order.district, _street(order), company=customer.name),
        parcel_count=1, weight_kg=max(1.0, qty * 0.5),
        description="汽车配件：" + "、".join(dict.fromkeys(_short(n) for n in names))[:60])


def _street(order: Order) -> str:
    raw = order.address_raw
    for part in (order.province, order.city, order.district):
        raw = raw.replace(part, "", 1) if part else raw
    return raw.strip() or order.address_raw


def _province(name: str) -> str:
    return name if name.endswith(("省", "市", "区")) or not name else (
        name + "市" if name in ("上海", "北京", "天津", "重庆") else name + "省")


def _city(name: str) -> str:
    return name if not name or name.endswith("市") else name + "市"


def _short(name: str) -> str:
    """博世 前刹车片 大众朗逸 0986AB1234 → 前刹车片 (the part, not the brand or fitment)."""
    words = name.split()
    return words[1] if len(words) > 1 else name


