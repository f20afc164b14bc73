"""Static tables behind the order-text parser: synonyms, makes, brands, numerals, units, labels.

Everything here is plain data, already in the parser's normal form (NFKC, ASCII upper case).
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The synonym lexicon is a shipped, editable data file; config.toml extends it
# ([parser.lexicon.rewrites|terms|brands|models], applied by `extend`).
LEXICON_PATH = Path(__file__).with_name("parser_lexicon.toml")


def _norm(word: object) -> str:
    return unicodedata.normalize("NFKC", str(word)).strip().upper()


def _rewrites(table: Mapping[str, Any]) -> dict[str, str]:
    return {_norm(k): _norm(v) for k, v in table.items() if _norm(k) and _norm(v)}


def _brands(table: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for k, v in table.items():
        names = [v] if isinstance(v, str) else list(v)
        if _norm(k) and names:
            out[_norm(k)] = tuple(_norm(n) for n in names)
    return out


with LEXICON_PATH.open("rb") as _fh:
    _LEXICON: dict[str, Any] = tomllib.load(_fh)

GENERATION = [0]  # bumped by `extend`: compiled forms of the tables are rebuilt


def extend(extra: Mapping[str, Any]) -> None:
    """Add or override lexicon entries (config.toml [parser.lexicon]); indexes built after
    this call use them."""
    if not extra:
        return
    TEXT_REWRITES.update(_rewrites(extra.get("rewrites", {})))
    TERM_ALIASES.update(_rewrites(extra.get("terms", {})))
    MODEL_ALIASES.update(_rewrites(extra.get("models", {})))
    BRAND_ALIASES.update(_brands(extra.get("brands", {})))
    GENERATION[0] += 1

# ---------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------

# Plain character-level rewrites applied to the query text before anything else: regional
# and trade words for the same part. Applied longest first, in one pass.
TEXT_REWRITES: dict[str, str] = _rewrites(_LEXICON.get("rewrites", {}))

# Rewrites that need a pattern: 前氧 is the front oxygen sensor (but 前氧传感器 stays).
REGEX_REWRITES: tuple[tuple[str, str], ...] = (
    (r"([前后])氧(?!传感)", r"\1氧传感器"),
)

# Abbreviations and trade names of a part type: query word → a word of the catalogue. The
# target is matched like a typed word (it selects every product term ending with it).
TERM_ALIASES: dict[str, str] = _rewrites(_LEXICON.get("terms", {}))

# Words that name a whole category (no product name carries them): word → category code.
CATEGORY_WORDS: dict[str, str] = {
    "轮胎": "TYR",
    "车胎": "TYR",
    "胎": "TYR",
}

# Words that name one part type (the first product term a word matches is the part type;
# anything else a product name carries, such as a series, is a series term).
TYPE_HEADS: tuple[str, ...] = (
    "刹车片", "刹车盘", "报警线", "滤清器", "火花塞", "雨刮片", "总成", "灯泡", "皮带", "套件",
    "张紧轮", "减震器", "顶胶", "弹簧", "三件套", "离合器片", "压盘", "轴承", "线圈", "点火线",
    "摆臂", "球头", "连杆", "传感器", "水泵", "节温器", "水箱", "机油", "蓄电池", "冷却液",
    "刹车油", "变速箱油", "清洗液", "清洁剂",
)

# Car makes, to split a fitment such as 大众朗逸 into make and model.
MAKES: tuple[str, ...] = (
    "一汽大众", "上汽大众", "大众", "丰田", "本田", "日产", "东风日产", "别克", "雪佛兰",
    "凯迪拉克", "比亚迪", "吉利", "长安", "哈弗", "长城", "奥迪", "宝马", "奔驰", "马自达",
    "现代", "起亚", "福特", "五菱", "宝骏", "荣威", "名爵", "传祺", "奇瑞", "领克", "斯柯达",
    "标致", "雪铁龙", "沃尔沃", "雷克萨斯", "英菲尼迪", "三菱", "铃木", "斯巴鲁", "路虎",
    "捷豹", "保时捷", "特斯拉", "理想", "蔚来", "小鹏", "红旗", "广汽", "北汽", "江淮",
)

# More ways to write a model: query word → model as the catalogue writes it (without make).
MODEL_ALIASES: dict[str, str] = _rewrites(_LEXICON.get("models", {}))
# Models too short to be recognised without their make (汉 alone is too common a character).
MODELS_NEED_MAKE: frozenset[str] = frozenset({"汉", "秦", "宋"})

# Brand names in other scripts or short forms: query word → brand as the catalogue writes it.
BRAND_ALIASES: dict[str, tuple[str, ...]] = _brands(_LEXICON.get("brands", {}))

# Positions as written in product names (prefix of the part word), longest first.
POSITIONS: tuple[str, ...] = ("左前", "右前", "左后", "右后", "前", "后", "左", "右")
# Words with 前/后/左/右 that say nothing about a position.
NOT_POSITION_WORDS: tuple[str, ...] = (
    "之前", "以前", "提前", "前天", "前台", "之后", "以后", "然后", "后天", "稍后", "随后",
    "售后", "前面那",
)
# Words that say a position: word → position letters.
POSITION_WORDS: dict[str, str] = {
    "前轮": "前", "后轮": "后", "前面": "前", "后面": "后", "前边": "前", "后边": "后",
    "前桥": "前", "后桥": "后", "左侧": "左", "右侧": "右", "左边": "左", "右边": "右",
    "前后": "前后", "左右": "左右", "四轮": "前后",
}

# ---------------------------------------------------------------------------------------
# Quantities and prices
# ---------------------------------------------------------------------------------------

CN_DIGITS: dict[str, int] = {
    "零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "仨": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}
CN_UNITS: dict[str, int] = {"十": 10, "百": 100, "千": 1000, "万": 10000}

# Counting units a salesperson writes after a quantity.
QTY_UNITS: tuple[str, ...] = (
    "PCS", "PC", "套", "个", "件", "支", "只", "条", "桶", "瓶", "片", "箱", "盒", "对", "根",
    "副", "组", "台", "罐", "包", "把", "提",
)
# Units meaning two pieces of a product sold singly.
PAIR_UNITS: frozenset[str] = frozenset({"对", "副"})
SINGLE_PIECE_UNITS: frozenset[str] = frozenset({"支", "只", "个", "片", "条", "根"})
# Units meaning a pack of unknown size.
PACK_UNITS: frozenset[str] = frozenset({"箱", "盒", "包", "提"})

PRICE_LABELS: tuple[str, ...] = (
    "含税单价", "未税单价", "单价", "含税价", "价格", "报价", "售价", "价钱", "价",
)
TOTAL_LABELS: tuple[str, ...] = ("合计", "小计", "金额", "总价", "总计", "共计", "总额", "总金额")

# ---------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------

CUSTOMER_LABELS: tuple[str, ...] = (
    "客户名称", "客户编码", "客户编号", "客户代码", "客户", "收货单位", "购货单位", "购买方",
    "单位名称", "店名", "门店", "买方",
)
ADDRESS_LABELS: tuple[str, ...] = (
    "收货地址", "送货地址", "配送地址", "详细地址", "地址", "送到", "送至", "送去", "发到", "发往",
    "发至", "寄到", "寄往", "送",
)
# Suffixes of a repair shop's name: a chunk ending like this names the customer.
SHOP_SUFFIXES: tuple[str, ...] = (
    "汽修厂", "修理厂", "维修中心", "维修厂", "有限公司", "快修店", "快修", "汽修", "轮胎店",
    "服务中心", "服务部", "4S店", "汽服", "车行", "养护中心", "公司",
)
# Lines of a quote card that carry nothing for the order.
SKIP_LABELS: tuple[str, ...] = (
    "报价单", "日期", "有效期", "报价人", "报价日期", "制单", "业务员", "销售员",
    "合计", "总计", "共计", "小计", "总金额", "付款方式", "结算方式", "交货期", "报价有效期",
)
# Filler words of chat orders; never part of a product.
FILLER_WORDS: tuple[str, ...] = (
    "麻烦", "帮忙", "谢谢", "老板", "你好", "您好", "在吗", "下单", "订单", "订货", "要货",
    "给我", "帮我", "我要", "需要", "今天", "明天", "尽快", "发货", "加急", "急", "再来", "还要",
    "还有", "以及", "一下", "的", "和", "跟", "要", "来", "拿", "给", "订", "发", "再", "请",
    "共", "各", "每", "另外", "规格", "型号", "品牌", "名称", "商品", "配件", "车型", "适用",
    "数量", "货", "用", "装", "送到店里", "送货", "店里", "老地址", "原地址", "上门", "备注",
    "谢", "好", "吗", "呢", "吧", "啊", "哦", "嗯", "了", "都", "先", "一起", "一共", "总共",
)
