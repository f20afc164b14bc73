"""Generated catalogues of other distributors, and chat corpora written against them.

    python bench/catalogs.py [--misses] [--seed 11] [--only NAME]

Three catalogues of different shapes, deterministic by seed (nothing here reads the parser):

- `dotted`  (2,000 SKUs): filters, ignition and brake pads; codes such as `0451.103.316`;
  names brand first with spaces and the short model (`曼牌 机油滤清器 朗逸`);
  customers `KH-001`.
- `dashed`  (8,000 SKUs): chassis parts; lower-case brand-prefixed codes (`kyb-334302`,
  `trw-gdb1550`); names part first with the position glued and NO model (the model is only
  in the 适用车型 column: `前减震器 KYB`); customers `c-1024`.
- `numeric` (18,000 SKUs): a general catalogue (brakes, filters, batteries, oils, fluids,
  bulbs, wipers); numeric-only codes (`60215043`); names glued (`博世朗逸前刹车片`,
  `瓦尔塔蓄电池70Ah`); customers `SH0001`.

For each, `corpus()` writes messages from templates of how salespeople type: customer code,
name or alias; part synonyms (机滤, 空气格, 刹车皮, 避震, 电瓶, 制动液 …); phrases without
spaces; units, Chinese and fullwidth numbers, x4 / ×4 / *4; prices; SKU codes in other case,
without separators or with spaces; several items on a line; 前后各 / 左右各; numbered quote
cards; pipe and tab tables with Chinese headers; ambiguous phrases and unknown brands (a
question, no SKU). The expected SKU is worked out from the generated attributes (the
products matching every attribute the phrase names): one product → that SKU, more → None
and a question is due. The templates were written before the parser was run on them.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.catalog import ProductInfo  # noqa: E402
from bot.domain.parser import CustomerRef, ParserIndex  # noqa: E402
from integrations import geocode  # noqa: E402
from tests.bot.parser_corpus import Case  # noqa: E402

MODELS = {  # short model → make
    "朗逸": "大众", "速腾": "大众", "迈腾": "大众", "帕萨特": "大众", "宝来": "大众",
    "捷达": "大众", "卡罗拉": "丰田", "凯美瑞": "丰田", "汉兰达": "丰田", "雷凌": "丰田",
    "思域": "本田", "雅阁": "本田", "飞度": "本田", "轩逸": "日产", "天籁": "日产",
    "奇骏": "日产", "英朗": "别克", "君威": "别克", "君越": "别克", "科鲁兹": "雪佛兰",
    "迈锐宝": "雪佛兰", "福克斯": "福特", "蒙迪欧": "福特", "伊兰特": "现代", "途胜": "现代",
    "索纳塔": "现代", "哈弗H6": "长城", "博越": "吉利", "帝豪": "吉利", "荣威RX5": "上汽",
    "宝马3系": "宝马", "奥迪A4L": "奥迪", "昂科威": "别克", "逍客": "日产", "锐志": "丰田",
    "马自达6": "马自达", "昂克赛拉": "马自达", "K5": "起亚", "狮跑": "起亚", "传祺GS4": "广汽",
    "宋": "比亚迪", "唐": "比亚迪", "秦": "比亚迪", "瑞虎8": "奇瑞", "艾瑞泽5": "奇瑞",
    "CS75": "长安", "逸动": "长安", "宝骏510": "宝骏", "五菱宏光": "五菱", "途昂": "大众",
    "探岳": "大众", "凌度": "大众", "威驰": "丰田", "致炫": "丰田", "缤智": "本田",
    "冠道": "本田", "楼兰": "日产", "阳光": "日产", "XR-V": "本田", "CX-5": "马自达",
    "高尔夫": "大众", "宝马5系": "宝马", "奥迪Q5L": "奥迪", "君越GL8": "别克",
    "英菲尼迪Q50": "英菲尼迪",
    "科沃兹": "雪佛兰", "探界者": "雪佛兰", "锐界": "福特", "翼博": "福特", "名图": "现代",
    "菲斯塔": "现代", "智跑": "起亚", "奕泽": "丰田", "普拉多": "丰田", "杰德": "本田",
    "歌诗图": "本田", "劲客": "日产", "骐达": "日产", "星越": "吉利", "缤越": "吉利",
}
VARIANTS = ("1.4T", "1.5L", "1.6L", "1.8T", "2.0T", "2.0L", "2.5L", "1.2T", "1.3T")
# everyday words a salesperson uses for a catalogue's part word
SYNONYMS = {
    "机油滤清器": ("机滤", "机油格", "机油滤芯"), "空气滤清器": ("空滤", "空气格", "空气滤芯"),
    "空调滤清器": ("空调滤", "空调格", "空调滤芯"), "燃油滤清器": ("汽滤", "汽油格", "汽油滤芯"),
    "火花塞": ("火嘴",), "点火线圈": ("高压包",), "刹车片": ("刹车皮", "制动片"),
    "刹车盘": ("刹车碟", "制动盘"), "减震器": ("避震", "减振器"), "雨刮片": ("雨刷", "雨刮"),
    "蓄电池": ("电瓶", "电池"), "刹车油": ("制动液",), "玻璃水": ("雨刮水", "清洗液"),
    "防冻液": ("冷却液",), "下摆臂": ("摆臂", "下支臂"), "平衡杆": ("稳定杆", "平衡杆"),
    "球头": ("外球头",), "灯泡": ("大灯灯泡",), "机油": ("机油",), "正时皮带": ("正时带",),
}
CN = {1: "一", 2: "两", 3: "三", 4: "四", 5: "五", 6: "六", 8: "八", 10: "十", 12: "十二",
      20: "二十", 24: "二十四", 30: "三十"}
PLACES = ("顺达", "老李", "城西", "恒通", "鑫源", "宏发", "金桥", "路路通", "安达", "永安",
          "华盛", "福临", "吉祥", "新宇", "东风路", "南湖", "北辰", "惠民", "诚信", "天顺",
          "瑞丰", "广源", "兴旺", "德胜", "佳美", "红星", "万通", "长青", "金盾", "博远",
          "捷诚", "友邦", "信达", "宏图", "欣悦", "车之家", "速通", "正大", "和顺", "嘉禾")
KINDS = ("汽车维修中心", "汽修厂", "轮胎店", "快修店", "车业有限公司", "汽配商行", "养护中心")


@dataclass(frozen=True)
class Part:
    word: str  # the catalogue's part word
    category: str  # 品类
    unit: str
    brands: tuple[str, ...]
    positions: tuple[str, ...] = ()  # e.g. 前/后 or 左/右
    specs: tuple[str, ...] = ()  # model-independent when given
    price: tuple[int, int] = (20, 400)


@dataclass(frozen=True)
class Product:
    sku: str
    brand: str
    part: Part
    model: str | None
    position: str | None
    spec: str | None
    variant: str | None  # engine of a model-bound part
    name: str
    price: int


@dataclass
class Catalogue:
    name: str
    products: list[Product]
    customers: list[CustomerRef]
    brand_aliases: dict[str, str]  # brand → how staff may type it
    unknown: str  # a brand this distributor does not sell
    by_attrs: dict[tuple[str, str], list[Product]] = field(default_factory=dict)

    def infos(self) -> list[ProductInfo]:
        return [ProductInfo(i, p.sku, p.name, p.part.category, p.brand, p.part.unit,
                            Decimal(p.price),
                            f"{full_model(p.model)} {p.variant}" if p.model else "通用",
                            True)
                for i, p in enumerate(self.products, start=1)]

    def index(self) -> ParserIndex:
        return ParserIndex.build(self.infos(), self.customers, geocode.parse)

    def matching(self, brand: str | None, part: str, model: str | None, variant: str | None,
                 position: str | None, spec: str | None) -> list[Product]:
        if not brand:
            return [p for b in sorted({q.brand for q in self.products if q.part.word == part})
                    for p in self.matching(b, part, model, variant, position, spec)]
        return [p for p in self.by_attrs[(part, brand)] if
                (model is None or p.model == model) and
                (variant is None or p.variant == variant) and
                (position is None or p.position == position) and
                (spec is None or p.spec == spec)]


# ---- catalogue shapes ---------------------------------------------------------------------

def _dotted_code(rng: random.Random, p: Part, brand: str) -> str:
    return f"{rng.randint(100, 9999):04d}.{rng.randint(100, 999)}.{rng.randint(100, 999)}"


def _dashed_code(rng: random.Random, p: Part, brand: str) -> str:
    slug = {"萨克斯": "sachs", "KYB": "kyb", "TRW": "trw", "菲罗多": "ferodo", "布雷博": "brembo",
            "莱姆福德": "lemforder", "德尔福": "delphi", "莫格": "moog"}[brand]
    letters = "".join(rng.choice("abcdefghkmnprstx") for _ in range(rng.choice((0, 2, 3))))
    return f"{slug}-{letters}{rng.randint(1000, 999999)}"


def _numeric_code(rng: random.Random, p: Part, brand: str) -> str:
    return str(rng.randint(10_000_000, 99_999_999))


def _name_spaced(b: str, p: Part, model: str | None, var: str | None, pos: str | None,
                 spec: str | None) -> str:
    return " ".join(x for x in (b, f"{pos or ''}{p.word}", model, var, spec) if x)


def _name_part_first(b: str, p: Part, model: str | None, var: str | None, pos: str | None,
                     spec: str | None) -> str:
    return " ".join(x for x in (f"{pos or ''}{p.word}", b, spec) if x)


def _name_glued(b: str, p: Part, model: str | None, var: str | None, pos: str | None,
                spec: str | None) -> str:
    if model and var:
        model = f"{model} {var}" if model[-1].isascii() else f"{model}{var}"
    return f"{b}{model or ''}{pos or ''}{p.word}" + (spec or "")


SHAPES: dict[str, dict] = {
    "dotted": {"size": 2_000, "code": _dotted_code, "name": _name_spaced, "customer": "KH-{:03d}",
                   "variants": (1, 2), "models": 70,
                   "aliases": {"曼牌": "MANN", "马勒": "马勒", "汉格斯特": "汉格斯特",
                               "NGK": "ngk",
                            "电装": "电装", "冠军": "冠军", "菲罗多": "菲罗多", "捷豹": "捷豹"},
                   "parts": (
                       Part("机油滤清器", "滤清器", "个", ("曼牌", "马勒", "汉格斯特")),
                       Part("空气滤清器", "滤清器", "个", ("曼牌", "马勒", "汉格斯特")),
                       Part("空调滤清器", "滤清器", "个", ("曼牌", "马勒", "汉格斯特")),
                       Part("燃油滤清器", "滤清器", "个", ("曼牌", "马勒", "汉格斯特")),
                       Part("火花塞", "点火", "支", ("NGK", "电装", "冠军"), price=(20, 90)),
                       Part("点火线圈", "点火", "个", ("电装", "冠军", "NGK")),
                       Part("刹车片", "制动", "套", ("菲罗多", "捷豹"), ("前", "后"))),
                   "unknown": "博世"},
    "dashed": {"size": 8_000, "code": _dashed_code, "name": _name_part_first, "customer": "c-{}",
                   "variants": (3, 4), "models": 80,
                   "aliases": {"萨克斯": "萨克斯", "KYB": "kyb", "TRW": "trw", "菲罗多": "菲罗多",
                            "布雷博": "布雷博", "莱姆福德": "莱姆福德", "德尔福": "德尔福",
                            "莫格": "莫格"},
                   "parts": (
                       Part("减震器", "悬挂", "支", ("萨克斯", "KYB", "德尔福"), ("前", "后")),
                       Part("刹车片", "制动", "套", ("TRW", "菲罗多", "布雷博"), ("前", "后")),
                       Part("刹车盘", "制动", "只", ("TRW", "布雷博", "莫格"), ("前", "后")),
                       Part("下摆臂", "转向", "个", ("莱姆福德", "TRW", "德尔福"), ("左", "右")),
                       Part("球头", "转向", "个", ("莱姆福德", "莫格"), ("左", "右")),
                       Part("平衡杆", "悬挂", "根", ("莱姆福德", "萨克斯"), ("前", "后"))),
                   "unknown": "曼牌"},
    "numeric": {"size": 18_000, "code": _numeric_code, "name": _name_glued, "customer": "SH{:04d}",
                    "variants": (5, 8), "models": 80,
                    "aliases": {"博世": "bosch", "瓦尔塔": "瓦尔塔", "风帆": "风帆",
                                "骆驼": "骆驼", "美孚": "美孚", "壳牌": "壳牌",
                                "嘉实多": "嘉实多", "欧司朗": "欧司朗",
                             "飞利浦": "飞利浦", "固特异": "固特异", "米其林": "米其林",
                             "马牌": "马牌", "卡固": "卡固", "法雷奥": "法雷奥", "盖茨": "盖茨",
                             "爱信": "爱信", "电装": "电装", "康迪泰克": "康迪泰克"},
                    "parts": (
                        Part("刹车片", "制动", "套", ("博世", "卡固", "马牌", "法雷奥"),
                             ("前", "后")),
                        Part("刹车盘", "制动", "只", ("博世", "卡固", "法雷奥", "爱信"),
                             ("前", "后")),
                        Part("机油滤清器", "滤清器", "个", ("博世", "法雷奥", "电装", "爱信")),
                        Part("空气滤清器", "滤清器", "个", ("博世", "法雷奥", "电装", "爱信")),
                        Part("空调滤清器", "滤清器", "个", ("博世", "法雷奥", "电装")),
                        Part("雨刮片", "雨刮", "对", ("博世", "法雷奥", "米其林")),
                        Part("正时皮带", "发动机", "条", ("盖茨", "康迪泰克", "爱信")),
                        Part("减震器", "悬挂", "支", ("爱信", "法雷奥"), ("前", "后")),
                        Part("蓄电池", "电池", "个", ("瓦尔塔", "风帆", "骆驼", "博世"),
                             specs=("45Ah", "55Ah", "60Ah", "70Ah", "80Ah", "100Ah"),
                             price=(300, 900)),
                        Part("机油", "油品", "桶", ("美孚", "壳牌", "嘉实多"),
                             specs=("0W-20 4L", "5W-30 4L", "5W-40 4L", "0W-40 4L",
                                    "5W-30 1L", "10W-40 4L"), price=(60, 500)),
                        Part("刹车油", "油品", "瓶", ("博世", "壳牌", "美孚"),
                             specs=("DOT4 1L", "DOT3 1L", "DOT4 500ML"), price=(20, 80)),
                        Part("玻璃水", "养护", "桶", ("固特异", "壳牌"),
                             specs=("-25度 2L", "-40度 2L", "0度 2L"), price=(10, 40)),
                        Part("防冻液", "养护", "桶", ("壳牌", "嘉实多", "固特异"),
                             specs=("-25度 4KG", "-45度 4KG", "-35度 2KG"), price=(40, 150)),
                        Part("灯泡", "灯具", "盒", ("欧司朗", "飞利浦"),
                             specs=("H1", "H4", "H7", "H11", "9005", "D1S"), price=(30, 400))),
                    "unknown": "TRW"},
}


def build(name: str, seed: int = 11) -> Catalogue:
    shape = SHAPES[name]
    rng = random.Random(f"{name}:{seed}")
    models = sorted(MODELS)
    rng.shuffle(models)
    models = models[: shape["models"]]
    variants = {m: sorted(rng.sample(VARIANTS, rng.randint(*shape["variants"])))
                for m in models}
    combos: list[tuple[str, Part, str | None, str | None, str | None, str | None]] = []
    for part in shape["parts"]:
        for brand in part.brands:
            if part.specs:
                combos += [(brand, part, None, None, None, s) for s in part.specs]
                continue
            for model in models:
                for var in variants[model]:
                    for pos in part.positions or (None,):
                        combos.append((brand, part, model, var, pos, None))
    fixed = [c for c in combos if c[5]]  # model-independent products are always stocked
    rest = [c for c in combos if not c[5]]
    rng.shuffle(rest)
    if len(fixed) + len(rest) < shape["size"]:
        raise ValueError(f"{name}: only {len(fixed) + len(rest)} products can be made")
    chosen = fixed + rest[: shape["size"] - len(fixed)]
    products, seen = [], set()
    for brand, part, model, var, pos, spec in chosen:
        code = shape["code"](rng, part, brand)
        while code in seen:
            code = shape["code"](rng, part, brand)
        seen.add(code)
        products.append(Product(code, brand, part, model, pos, spec, var,
                                shape["name"](brand, part, model, var, pos, spec),
                                rng.randint(*part.price)))
    rng.shuffle(products)
    customers = []
    for i, place in enumerate(PLACES):
        kind = KINDS[i % len(KINDS)]
        code = shape["customer"].format(1000 + i * 7 if "{}" in shape["customer"] else i + 1)
        customers.append(CustomerRef(code, f"{place}{kind}", (place, f"{place}{kind[:2]}"),
                                     True))
    cat = Catalogue(name, products, customers, shape["aliases"], shape["unknown"])
    for p in products:
        cat.by_attrs.setdefault((p.part.word, p.brand), []).append(p)
    return cat


# ---- how salespeople type -----------------------------------------------------------------

def full_model(model: str) -> str:
    make = MODELS[model]
    return model if model.startswith(make) else f"{make}{model}"


def _fullwidth(n: int) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in str(n))


def qty_text(rng: random.Random, n: int, unit: str, anchored: bool = False) -> str:
    forms = ["{n}{u}", "{cn}{u}", "{fw}{u}", "x{n}", "×{n}", "*{n}", "{n} {u}", "数量{n}"]
    if anchored:
        forms = ["{n}{u}", "{cn}{u}"]
    return rng.choice(forms).format(n=n, u=unit, cn=CN[n], fw=_fullwidth(n))


def spec_text(rng: random.Random, spec: str) -> str:
    s = spec
    if rng.random() < 0.5:
        s = s.replace("Ah", rng.choice(("AH", "ah", "A"))).replace("W-", rng.choice(("w", "W")))
        s = s.replace("4L", rng.choice(("4L", "4l", "4升")))
        s = s.replace("KG", rng.choice(("kg", "KG")))
    return s


def code_text(rng: random.Random, sku: str) -> str:
    forms = [sku, sku.lower(), sku.upper(), sku.replace(".", "").replace("-", ""),
             sku.replace(".", " ").replace("-", " ")]
    return rng.choice(forms)


def customer_text(rng: random.Random, c: CustomerRef) -> str:
    return rng.choice((c.code, c.name, c.aliases[0], c.aliases[1], c.code.lower()))


@dataclass
class Said:
    """A product phrase and what it names."""
    text: str
    sku: str | None
    product: Product


def describe(cat: Catalogue, rng: random.Random, p: Product, *, glued: bool = False,
             synonym: float = 0.5, drop: str | None = None) -> Said:
    brand = None if drop == "brand" else p.brand
    model = None if drop == "model" else p.model
    variant = None if drop == "model" else p.variant
    if drop == "variant" or (variant and rng.random() < 0.15):
        variant = None  # staff often leave the engine out: a question unless it is unique
    word = p.part.word
    if rng.random() < synonym and word in SYNONYMS:
        word = rng.choice(SYNONYMS[word])
    b_txt = cat.brand_aliases.get(brand, brand) if brand and rng.random() < 0.4 else brand
    if drop == "unknown":
        b_txt = cat.unknown
    m_txt = model
    if model and rng.random() < 0.2:
        m_txt = full_model(model)
    if m_txt and variant:
        glue = not m_txt[-1].isascii() and (glued or rng.random() < 0.5)
        m_txt = f"{m_txt}{variant}" if glue else f"{m_txt} {variant}"
    part_txt = f"{p.position}{word}" if p.position and rng.random() < 0.7 else \
        (f"{word}{p.position}" if p.position and glued else
         (f"{word} {p.position}" if p.position else word))
    spec = spec_text(rng, p.spec) if p.spec else None
    if glued:
        order = [b_txt, m_txt, part_txt] if rng.random() < 0.6 else [m_txt, b_txt, part_txt]
        text = "".join(x for x in order if x) + (spec or "")
    else:
        words = [x for x in (b_txt, part_txt, m_txt, spec) if x]
        if rng.random() < 0.5:
            rng.shuffle(words)
        text = " ".join(words)
    if drop == "unknown":
        return Said(text, None, p)
    found = cat.matching(brand, p.part.word, model, variant, p.position, p.spec)
    return Said(text, found[0].sku if len(found) == 1 else None, p)


def _pick(cat: Catalogue, rng: random.Random, cond: Callable[[Product], bool]) -> Product:
    while True:
        p = rng.choice(cat.products)
        if cond(p):
            return p


def _n(rng: random.Random) -> int:
    return rng.choice(sorted(CN))


Msg = tuple[str, str | None, list[tuple[str | None, int, int | None]], bool]


def t_chat_line(cat: Catalogue, rng: random.Random) -> Msg:
    c = rng.choice(cat.customers)
    p = rng.choice(cat.products)
    s = describe(cat, rng, p)
    n = _n(rng)
    sep = rng.choice((" ", "\n", "，"))
    price = p.price if rng.random() < 0.3 else None
    price_txt = f" {rng.choice(('@{}', '单价{}', '{}元'))}".format(price) if price else ""
    return (f"{customer_text(rng, c)}{sep}{s.text} {qty_text(rng, n, p.part.unit)}{price_txt}",
            c.code, [(s.sku, n, price)], s.sku is None)


def t_glued(cat: Catalogue, rng: random.Random) -> Msg:
    c = rng.choice(cat.customers)
    p = rng.choice(cat.products)
    s = describe(cat, rng, p, glued=True)
    n = _n(rng)
    return (f"{customer_text(rng, c)} {s.text}{qty_text(rng, n, p.part.unit, anchored=True)}",
            c.code, [(s.sku, n, None)], s.sku is None)


def t_code(cat: Catalogue, rng: random.Random) -> Msg:
    c = rng.choice(cat.customers)
    items = [rng.choice(cat.products) for _ in range(rng.randint(1, 3))]
    lines, want = [customer_text(rng, c)], []
    for p in items:
        n = _n(rng)
        lines.append(f"{code_text(rng, p.sku)} {qty_text(rng, n, p.part.unit)}")
        want.append((p.sku, n, None))
    return "\n".join(lines), c.code, want, False


def t_multi(cat: Catalogue, rng: random.Random) -> Msg:
    c = rng.choice(cat.customers)
    parts, want = [], []
    for _ in range(rng.randint(2, 3)):
        p = rng.choice(cat.products)
        s = describe(cat, rng, p, glued=rng.random() < 0.5)
        n = _n(rng)
        parts.append(f"{s.text} {qty_text(rng, n, p.part.unit, anchored=True)}")
        want.append((s.sku, n, None))
    one_line = rng.random() < 0.5
    body = " ".join(parts) if one_line else "\n".join(parts)
    return (f"{customer_text(rng, c)}\n{body}", c.code, want,
            any(w[0] is None for w in want))


def t_each(cat: Catalogue, rng: random.Random) -> Msg:
    c = rng.choice(cat.customers)
    p = _pick(cat, rng, lambda q: bool(q.part.positions))
    a, b = p.part.positions
    pair = [cat.matching(p.brand, p.part.word, p.model, p.variant, pos, p.spec)
            for pos in (a, b)]
    if not all(len(x) == 1 for x in pair):
        return t_chat_line(cat, rng)
    n = _n(rng)
    brand = cat.brand_aliases.get(p.brand, p.brand) if rng.random() < 0.3 else p.brand
    word = rng.choice((p.part.word, *SYNONYMS.get(p.part.word, ())))
    model = f"{p.model}{' ' if p.model[-1].isascii() else ''}{p.variant}"
    text = rng.choice((f"{brand} {model} {a}{b}{word}各{n}{p.part.unit}",
                       f"{model}{a}{b}{word} {brand} 各{CN[n]}{p.part.unit}",
                       f"{brand}{model}{word}{a}{b}各{n}{p.part.unit}"))
    return (f"{customer_text(rng, c)} {text}", c.code,
            [(pair[0][0].sku, n, None), (pair[1][0].sku, n, None)], False)


def t_numbered(cat: Catalogue, rng: random.Random) -> Msg:
    c = rng.choice(cat.customers)
    rows, want = [f"客户：{c.name}"], []
    for i in range(rng.randint(2, 4)):
        p = rng.choice(cat.products)
        s = describe(cat, rng, p, synonym=0.3)
        n = _n(rng)
        price = p.price if rng.random() < 0.5 else None
        rows.append(f"{i + 1}. {s.text} {n}{p.part.unit}" + (f" 单价{price}" if price else ""))
        want.append((s.sku, n, price))
    return "\n".join(rows), c.code, want, any(w[0] is None for w in want)


def t_table(cat: Catalogue, rng: random.Random) -> Msg:
    c = rng.choice(cat.customers)
    items = [rng.choice(cat.products) for _ in range(rng.randint(2, 4))]
    priced = rng.random() < 0.5
    if rng.random() < 0.5:
        head = "客户 | 商品编码 | 数量" + (" | 单价" if priced else "")
        rows = [head] + [f"{c.code} | {p.sku} | {n}" + (f" | {p.price}" if priced else "")
                         for p, n in ((p, 2 + i) for i, p in enumerate(items))]
        text = "\n".join(rows)
    else:
        head = "商品编码\t商品名称\t数量" + ("\t单价" if priced else "")
        rows = [c.name, head] + [f"{p.sku}\t{p.name}\t{n}" + (f"\t{p.price}" if priced else "")
                                 for p, n in ((p, 2 + i) for i, p in enumerate(items))]
        text = "\n".join(rows)
    want = [(p.sku, 2 + i, p.price if priced else None) for i, p in enumerate(items)]
    return text, c.code, want, False


def t_ambiguous(cat: Catalogue, rng: random.Random) -> Msg:
    c = rng.choice(cat.customers)
    p = _pick(cat, rng, lambda q: q.model is not None)
    s = describe(cat, rng, p, drop=rng.choice(("model", "model", "brand")))
    n = _n(rng)
    return (f"{customer_text(rng, c)} {s.text} {qty_text(rng, n, p.part.unit)}", c.code,
            [(s.sku, n, None)], s.sku is None)


def t_unknown_brand(cat: Catalogue, rng: random.Random) -> Msg:
    c = rng.choice(cat.customers)
    p = _pick(cat, rng, lambda q: q.model is not None)
    s = describe(cat, rng, p, drop="unknown")
    n = _n(rng)
    return (f"{customer_text(rng, c)} {s.text} {qty_text(rng, n, p.part.unit)}", c.code,
            [(None, n, None)], True)


def t_spec(cat: Catalogue, rng: random.Random) -> Msg:
    c = rng.choice(cat.customers)
    specced = [p for p in cat.products if p.spec]
    if not specced:
        return t_glued(cat, rng)
    p = rng.choice(specced)
    s = describe(cat, rng, p, glued=rng.random() < 0.3)
    n = _n(rng)
    return (f"{customer_text(rng, c)}\n{s.text} {qty_text(rng, n, p.part.unit)}", c.code,
            [(s.sku, n, None)], s.sku is None)


TEMPLATES: tuple[tuple[Callable[[Catalogue, random.Random], Msg], int], ...] = (
    (t_chat_line, 18), (t_glued, 10), (t_code, 10), (t_multi, 8), (t_each, 6),
    (t_numbered, 6), (t_table, 6), (t_ambiguous, 8), (t_unknown_brand, 4), (t_spec, 6),
)


def corpus(cat: Catalogue, seed: int = 11) -> list[Case]:
    rng = random.Random(f"corpus:{cat.name}:{seed}")
    cases = []
    for template, count in TEMPLATES:
        for _ in range(count):
            text, customer, lines, asks = template(cat, rng)
            cases.append(Case(text, customer, tuple(lines), asks, note=template.__name__))
    return cases


def main(argv: list[str] | None = None) -> int:
    from bench.parser_eval import score, table, throughput

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--misses", action="store_true")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--only", choices=sorted(SHAPES))
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args(argv)
    for name in SHAPES:
        if args.only and name != args.only:
            continue
        cat = build(name, args.seed)
        t0 = time.perf_counter()
        index = cat.index()
        built = time.perf_counter() - t0
        cases = corpus(cat, args.seed)
        totals, misses, wrong = score(cases, index)
        title = (f"{name} ({len(cat.products):,} SKUs, {len(cases)} messages; "
                 f"index built in {built:.1f} s)")
        print(table(title, totals, wrong, throughput(cases, index, args.seconds)))
        for line in wrong:
            print(f"    WRONG {line}")
        if args.misses:
            for line in misses:
                print(f"    miss {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
