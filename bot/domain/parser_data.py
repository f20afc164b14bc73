"""Static tables behind the order-text parser: synonyms, makes, brands, numerals, units, labels.

Everything here is plain data, already in the parser's normal form (NFKC, ASCII upper case).
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------

# Plain character-level rewrites applied to the query text before anything else: regional
# and trade words for the same part. Applied longest first, in one pass.
TEXT_REWRITES: dict[str, str] = {
    "滤芯": "滤清器",
    "滤心": "滤清器",
    "滤网": "滤清器",
    "避震": "减震",
    "减振": "减震",
    "雨刷": "雨刮",
    "刹车皮": "刹车片",
    "来令片": "刹车片",
    "制动片": "刹车片",
    "刹车块": "刹车片",
    "制动盘": "刹车盘",
    "刹车碟": "刹车盘",
    "汽油滤清器": "燃油滤清器",
    "波箱油": "变速箱油",
    "制动液": "刹车油",
    "防冻液": "冷却液",
    "玻璃水": "玻璃清洗液",
    "雨刮水": "玻璃清洗液",
    "雨刷水": "玻璃清洗液",
    "燃油宝": "燃油系统清洁剂",
}

# Rewrites that need a pattern: 前氧 is the front oxygen sensor (but 前氧传感器 stays).
REGEX_REWRITES: tuple[tuple[str, str], ...] = (
    (r"([前后])氧(?!传感)", r"\1氧传感器"),
)

# Abbreviations and trade names of a part type: query word → a word of the catalogue. The
# target is matched like a typed word (it selects every product term ending with it).
TERM_ALIASES: dict[str, str] = {
    "空滤": "空气滤清器",
    "空气格": "空气滤清器",
    "机滤": "机油滤清器",
    "机油格": "机油滤清器",
    "油格": "机油滤清器",
    "空调滤": "空调滤清器",
    "空调格": "空调滤清器",
    "冷气格": "空调滤清器",
    "汽滤": "燃油滤清器",
    "汽油滤": "燃油滤清器",
    "汽油格": "燃油滤清器",
    "燃油滤": "燃油滤清器",
    "电瓶": "蓄电池",
    "电池": "蓄电池",
    "火嘴": "火花塞",
    "雨刮": "雨刮片",
    "雨刮器": "雨刮片",
    "减震": "减震器",
    "减震顶胶": "减震器顶胶",
    "大灯": "大灯总成",
    "前大灯": "大灯总成",
    "尾灯": "尾灯总成",
    "雾灯": "雾灯总成",
    "正时套件": "正时皮带套件",
    "正时皮带": "正时皮带套件",
    "正时链条": "正时链条套件",
    "正时链": "正时链条套件",
    "外皮带": "发动机皮带",
    "发电机皮带": "发动机皮带",
    "多楔带": "发动机皮带",
    "离合片": "离合器片",
    "离合三件套": "离合器三件套",
    "离合器套装": "离合器三件套",
    "分离轴承": "离合器分离轴承",
    "高压包": "点火线圈",
    "高压线": "高压点火线",
    "下支臂": "下摆臂",
    "摆臂球头": "下摆臂球头",
    "外球头": "转向拉杆球头",
    "方向机球头": "转向拉杆球头",
    "横拉杆球头": "转向拉杆球头",
    "平衡杆球头": "平衡杆连杆",
    "稳定杆连杆": "平衡杆连杆",
    "含氧传感器": "氧传感器",
    "氧传感": "氧传感器",
    "ABS传感器": "ABS轮速传感器",
    "轮速传感器": "ABS轮速传感器",
    "曲轴传感器": "曲轴位置传感器",
    "进气压力": "进气压力传感器",
    "水箱": "散热器水箱",
    "散热器": "散热器水箱",
    "电子扇": "电子扇总成",
    "风扇": "电子扇总成",
    "冷却液": "发动机冷却液",
    "清洁剂": "燃油系统清洁剂",
    "卤素灯": "卤素灯泡",
    "氙气灯": "氙气灯泡",
    "LED灯": "LED大灯灯泡",
    "LED大灯": "LED大灯灯泡",
}

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
MODEL_ALIASES: dict[str, str] = {
    "RAV4": "RAV4荣放",
    "荣放": "RAV4荣放",
    "CRV": "CR-V",
    "途观": "途观L",
    "秦PLUS": "秦PLUS",
    "秦": "秦PLUS",
    "宋PLUS": "宋PLUS",
    "宋": "宋PLUS",
    "汉": "汉",
    "科鲁兹": "科鲁兹",
    "宏光": "宏光",
    "宏光MINI": "宏光",
    "帝豪GL": "帝豪",
    "亚洲龙": "亚洲龙",
    "卡罗拉双擎": "卡罗拉",
    "迈腾B8": "迈腾",
    "新朗逸": "朗逸",
    "朗逸PLUS": "朗逸",
}
# Models too short to be recognised without their make (汉 alone is too common a character).
MODELS_NEED_MAKE: frozenset[str] = frozenset({"汉", "秦", "宋"})

# Brand names in other scripts or short forms: query word → brand as the catalogue writes it.
BRAND_ALIASES: dict[str, tuple[str, ...]] = {
    "BOSCH": ("博世",), "MANN": ("曼牌",), "MAHLE": ("马勒",), "HENGST": ("汉格斯特",),
    "DENSO": ("电装",), "CHAMPION": ("冠军",), "BREMBO": ("布雷博",), "FERODO": ("菲罗多",),
    "TRW": ("TRW天合",), "天合": ("TRW天合",), "ADVICS": ("爱德克斯",), "VALEO": ("法雷奥",),
    "MICHELIN": ("米其林",), "HELLA": ("海拉",), "KOITO": ("小糸",), "GATES": ("盖茨",),
    "CONTINENTAL": ("大陆马牌", "马牌"), "马牌": ("大陆马牌", "马牌"), "大陆": ("大陆马牌",),
    "IWIS": ("伊维氏",), "SACHS": ("萨克斯",), "KYB": ("凯迪",), "MONROE": ("蒙诺",),
    "BILSTEIN": ("倍适登",), "LUK": ("鲁克",), "DELPHI": ("德尔福",), "ZF": ("采埃孚伦福德",),
    "伦福德": ("采埃孚伦福德",), "采埃孚": ("采埃孚伦福德",), "LEMFORDER": ("采埃孚伦福德",),
    "GRAF": ("格拉夫",), "MOBIL": ("美孚",), "SHELL": ("壳牌",), "CASTROL": ("嘉实多",),
    "BRIDGESTONE": ("普利司通",), "GOODYEAR": ("固特异",), "PIRELLI": ("倍耐力",),
    "HANKOOK": ("韩泰",), "MAXXIS": ("玛吉斯",), "VARTA": ("瓦尔塔",), "YUASA": ("汤浅",),
    "OSRAM": ("欧司朗",), "PHILIPS": ("飞利浦",), "NGK": ("NGK",), "INA": ("INA",),
}

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
