"""Placing a history file's addresses in one cpca call gives what placing each does."""

from integrations import geocode

ADDRESSES = [
    "浙江省杭州市西湖区文三路100号", "江苏省南京市玄武区中山路1号", "上海市嘉定区曹安公路4800号",
    "新疆维吾尔自治区乌鲁木齐市人民路1号", "广东省深圳市南山区科技园", "北京市朝阳区建国路88号",
    "  浙江省宁波市海曙区中山西路2号 ", "火星基地", "", "杭州市西湖区文三路100号",
]


def test_parse_many_agrees_with_parse_one_by_one() -> None:
    many = geocode.parse_many(ADDRESSES)
    for raw in ADDRESSES:
        text = raw.strip()
        if not text:
            assert text not in many
            continue
        assert many[text] == geocode.parse(raw), raw
    assert many["火星基地"] is None
    assert many["新疆维吾尔自治区乌鲁木齐市人民路1号"].city_short == "乌鲁木齐"
    assert many["上海市嘉定区曹安公路4800号"].city == "上海市"
