"""Addresses as people write them: development zones (开发区, 高新区, 新区, 保税区 …) are
district-level areas that are not counties; cpca finds no district in them. They are placed
at the zone (mapped to its city) and pass the coverage gate; only an address without a city
is refused."""

from __future__ import annotations

import pytest

from bot import config
from bot.domain.gates import coverage_gate, destination
from integrations import geocode
from tests.bot.test_gates import facts

# (address as a customer master has it, city, zone) — real zones and real streets.
ADDRESSES = [
    ("江苏省苏州工业园区星湖街328号", "苏州市", "苏州工业园区"),
    ("苏州工业园区金鸡湖大道1355号", "苏州市", "苏州工业园区"),
    ("无锡新区长江路21号", "无锡市", "无锡高新技术产业开发区"),
    ("南京江北新区浦滨路150号", "南京市", "南京江北新区"),
    ("南京经济技术开发区恒通大道12号", "南京市", "南京经济技术开发区"),
    ("南通经济技术开发区通盛大道188号", "南通市", "南通经济技术开发区"),
    ("杭州经济技术开发区白杨街道6号大街452号", "杭州市", "杭州经济技术开发区"),
    ("浙江省宁波保税区港东大道5号", "宁波市", "宁波保税区"),
    ("宁波杭州湾新区滨海二路888号", "宁波市", "宁波杭州湾新区"),
    ("嘉兴经济技术开发区昌盛南路36号", "嘉兴市", "嘉兴经济技术开发区"),
    ("合肥高新区望江西路800号", "合肥市", "合肥高新技术产业开发区"),
    ("安徽省合肥经济技术开发区繁华大道266号", "合肥市", "合肥经济技术开发区"),
    ("芜湖经济技术开发区银湖北路28号", "芜湖市", "芜湖经济技术开发区"),
    ("天津经济技术开发区第三大街1号", "天津市", "天津经济技术开发区"),
    ("天津港保税区海滨八路66号", "天津市", "天津港保税区"),
    ("北京经济技术开发区荣华中路10号", "北京市", "北京经济技术开发区"),
    ("山东省青岛保税区上海路18号", "青岛市", "青岛保税区"),
    ("济南高新区舜华路2000号", "济南市", "济南高新技术产业开发区"),
    ("郑州经开区第八大街169号", "郑州市", "郑州经济技术开发区"),
    ("河南省郑州高新区莲花街316号", "郑州市", "郑州高新技术产业开发区"),
    ("武汉东湖新技术开发区光谷大道77号", "武汉市", "武汉东湖新技术开发区"),
    ("武汉经济技术开发区沌阳大道339号", "武汉市", "武汉经济技术开发区"),
    ("长沙经济技术开发区东三路5号", "长沙市", "长沙经济技术开发区"),
    ("成都高新区天府大道北段1700号", "成都市", "成都高新技术产业开发区"),
    ("四川天府新区华阳街道正西街88号", "成都市", "四川天府新区"),
    ("重庆两江新区金开大道1号", "重庆市", "重庆两江新区"),
    ("西安高新区锦业路1号", "西安市", "西安高新技术产业开发区"),
    ("陕西省西安经济技术开发区凤城二路10号", "西安市", "西安经济技术开发区"),
    ("厦门火炬高新区创新路1号", "厦门市", "厦门火炬高技术产业开发区"),
    ("南昌高新区火炬大街188号", "南昌市", "南昌高新技术产业开发区"),
    ("长春高新技术产业开发区硅谷大街2888号", "长春市", "长春高新技术产业开发区"),
    ("辽宁省大连金普新区金马路1号", "大连市", "大连金普新区"),
    ("石家庄高新区黄河大道136号", "石家庄市", "石家庄高新技术产业开发区"),
    ("太原高新区长治路227号", "太原市", "太原高新技术产业开发区"),
    ("南宁高新区科园大道68号", "南宁市", "南宁高新技术产业开发区"),
    ("昆明高新区海源中路1520号", "昆明市", "昆明高新技术产业开发区"),
    ("乌鲁木齐经济技术开发区维泰南路1号", "乌鲁木齐市", "乌鲁木齐经济技术开发区"),
    ("宁夏银川经济技术开发区宝湖东路8号", "银川市", "银川经济技术开发区"),
    # named by a nickname alone: the list maps it to its city
    ("泰达第三大街8号", "天津市", "天津经济技术开发区"),
    ("光谷大道77号金融港", "武汉市", "武汉东湖新技术开发区"),
]


def test_the_list_covers_many_provinces() -> None:
    assert len(ADDRESSES) >= 30
    provinces = {geocode.parse(a).province for a, _, _ in ADDRESSES}  # type: ignore[union-attr]
    assert len(provinces) >= 20


@pytest.mark.parametrize(("address", "city", "zone"), ADDRESSES)
def test_a_development_zone_address_is_placed_and_served(address: str, city: str,
                                                         zone: str) -> None:
    place = geocode.parse(address)
    assert place is not None, address
    assert (place.city, place.area) == (city, zone)
    gate = coverage_gate(facts(place=place, address_raw=address), config.defaults())
    assert gate.ok, gate.message
    assert zone in gate.message and gate.checked["zone"] == zone


def test_a_zone_not_in_the_list_is_still_named_after_its_city() -> None:
    place = geocode.parse("洛阳高新区丰华路6号")
    assert place is not None and place.city == "洛阳市" and place.zone == "洛阳高新区"


def test_a_district_wins_over_a_zone() -> None:
    place = geocode.parse("上海市浦东新区张江高科技园区碧波路690号")
    assert place is not None and place.district == "浦东新区" and place.zone == ""


def test_coverage_can_name_a_zone() -> None:
    data = config._merge(config._read_toml(config.DEFAULTS_PATH), {"carriers": {
        "jd": {"coverage": ["苏州工业园区"]}, "zto": {"exclude": ["苏州工业园区"]}}})
    settings = config.from_mapping(data, {})
    inside = geocode.parse("苏州工业园区星湖街328号")
    outside = geocode.parse("苏州市姑苏区人民路1号")
    assert inside and outside
    assert coverage_gate(facts(place=inside, address_raw="x"), settings).checked[
        "carriers"] == ["sf", "jd"]
    assert coverage_gate(facts(place=outside, address_raw="x"), settings).checked[
        "carriers"] == ["sf", "zto"]
    assert destination(inside).area == "苏州工业园区"
