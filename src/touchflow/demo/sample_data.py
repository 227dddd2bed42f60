"""Sample data for a fictional company, with the mess real exports have. Deterministic and streaming.

智造云 (fictional) sells MES / industrial software to Chinese manufacturers (the CRM export) and
runs a small web shop for makers (3D printers, laser engravers). One pass over "people" writes all
four files, so memory stays flat even for a million contacts, and one seed always gives
byte-identical files: only ``random.Random(seed)`` decides, never the wall clock.

The mess is deliberate, so the demo shows what the importer does with it: phones spelled many
ways (``+86 138-0013-8000``, ``0086 …``, full-width digits), emails with capitals and spaces,
names with inner spaces, industries spelled variously, a field missing in one source and present
in another, the same person twice in the CRM, and about 1% of rows that must be rejected.
"""

from __future__ import annotations

import csv
import heapq
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

__all__ = ["BASE_DATE", "CRM_HEADERS", "FILES", "SampleFiles", "base_of", "write_sample_data"]

T = TypeVar("T")


class _RowWriter(Protocol):
    def writerow(self, row: Sequence[str], /) -> Any: ...


BASE_DATE = datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))  # the default "today" of the files


def base_of(as_of: date | None) -> datetime:
    """Midnight (China time) of the day the data is dated up to: events happen before it."""
    return BASE_DATE if as_of is None else datetime.combine(as_of, time(), tzinfo=ZoneInfo("Asia/Shanghai"))
CRM_HEADERS = ("客户编号", "姓名", "手机号", "邮箱", "公司", "行业", "职位", "城市", "省份", "性别", "更新时间")
SHOP_CUSTOMER_HEADERS = ("name", "mobile", "email", "city", "age", "tags")
SHOP_ORDER_HEADERS = ("id", "type", "occurred_at", "order_id", "phone", "email", "amount", "currency",
                      "items", "product_ids")
# Logical name -> file name, in the order the demo imports them.
FILES = {"crm": "crm_contacts.csv", "shop_customers": "shop_customers.csv",
         "web_events": "web_events.jsonl", "shop_orders": "shop_orders.csv"}
BAD_ROW_RATE = 0.01


def _table(text: str) -> list[list[str]]:
    """``"王:wang 李:li"`` -> ``[["王", "wang"], ["李", "li"]]``: keeps the vocabulary compact."""
    return [item.split(":") for item in text.split()]


def _words(text: str) -> list[str]:
    return text.split()


SURNAMES = _table("王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao 吴:wu 周:zhou 徐:xu 孙:sun "
                  "马:ma 朱:zhu 胡:hu 郭:guo 何:he 林:lin 高:gao 罗:luo 郑:zheng 梁:liang 谢:xie 宋:song "
                  "唐:tang 韩:han 冯:feng 邓:deng 曹:cao 彭:peng")
GIVEN = _table("伟:wei:男 强:qiang:男 磊:lei:男 军:jun:男 勇:yong:男 杰:jie:男 涛:tao:男 明:ming:男 超:chao:男 "
               "建国:jianguo:男 志强:zhiqiang:男 晓东:xiaodong:男 俊杰:junjie:男 文博:wenbo:男 浩然:haoran:男 "
               "宇航:yuhang:男 建华:jianhua:男 海涛:haitao:男 鹏:peng:男 立新:lixin:男 芳:fang:女 娜:na:女 "
               "敏:min:女 静:jing:女 丽:li:女 艳:yan:女 秀英:xiuying:女 海燕:haiyan:女 婷婷:tingting:女 "
               "欣怡:xinyi:女 雨涵:yuhan:女 思琪:siqi:女 佳怡:jiayi:女 丹:dan:女 慧:hui:女 玲:ling:女 "
               "桂英:guiying:女 晓燕:xiaoyan:女 雪:xue:女 颖:ying:女")
CITIES = _table("苏州:江苏:suzhou 无锡:江苏:wuxi 常州:江苏:changzhou 东莞:广东:dongguan 佛山:广东:foshan "
                "深圳:广东:shenzhen 宁波:浙江:ningbo 杭州:浙江:hangzhou 温州:浙江:wenzhou 青岛:山东:qingdao "
                "烟台:山东:yantai 天津:天津:tianjin 重庆:重庆:chongqing 成都:四川:chengdu 武汉:湖北:wuhan "
                "合肥:安徽:hefei 西安:陕西:xian 长沙:湖南:changsha 郑州:河南:zhengzhou 上海:上海:shanghai "
                "厦门:福建:xiamen 沈阳:辽宁:shenyang")
BRANDS = _table("精工:jinggong 恒锐:hengrui 华拓:huatuo 鼎盛:dingsheng 天成:tiancheng 永固:yonggu 宏达:hongda "
                "瑞丰:ruifeng 博远:boyuan 众诚:zhongcheng 汇通:huitong 远航:yuanhang 昌盛:changsheng "
                "新锐:xinrui 东晟:dongsheng 恒通:hengtong 铭泰:mingtai 凯达:kaida 卓越:zhuoyue 联创:lianchuang "
                "致远:zhiyuan 启明:qiming 德赛:desai 金科:jinke")
LINES = _table("精密机械:mfg 汽车零部件:auto 模具:mfg 注塑科技:mfg 重工:mfg 电子科技:elec 新能源:energy "
               "生物医药:pharma 食品:food 电气:mfg 纺织:textile 新材料:mfg")
INDUSTRY_SPELLINGS = {
    "mfg": ("制造业", "制造业", "制造", "Manufacturing", "manufacturing ", "机械", "工业"),
    "auto": ("汽车制造", "制造业", "Manufacturing", "汽车零部件"),
    "elec": ("电子", "电子制造", "Electronics", "制造业"),
    "energy": ("新能源", "能源", "Energy"),
    "pharma": ("医药", "生物医药", "Pharma"),
    "food": ("食品", "食品饮料", "消费品"),
    "textile": ("纺织", "纺织服装", "制造"),
}
JOBS = _words("总经理 厂长 生产经理 生产总监 IT经理 信息化主管 CIO 采购经理 质量经理 工艺工程师 设备主管 "
              "数字化转型负责人 计划主管 车间主任 财务经理")
FREE_MAIL = _words("qq.com 163.com 126.com gmail.com outlook.com foxmail.com sina.com")
SHOP_TAGS = _words("会员 VIP 复购 新客 促销敏感 教育优惠")
TAG_SEPARATORS = (";", ",", "，", "|", "、")
PRODUCTS = _table("P1001:桌面3D打印机:2999 P1002:激光雕刻机:1899 P1003:PLA耗材1kg:89 P1004:创客电子套件:399 "
                  "P1005:智能温湿度计:129 P1006:迷你数控铣床:4599 P1007:3D扫描仪:2599 P1008:光敏树脂耗材:159")
B2B_PAGES = _table("/:智造云首页 /solutions/mes:MES制造执行系统 /solutions/aps:APS高级排程 /solutions/wms:WMS仓储管理 "
                   "/pricing:价格方案 /cases/auto-parts:汽车零部件客户案例 /cases/electronics:电子行业客户案例 "
                   "/blog/oee-guide:如何提升OEE /about:关于我们")
CONTENT = _table("wp-mes-2026:MES选型白皮书2026:whitepaper cs-auto-parts:汽车零部件数字化工厂案例:case_study "
                 "ds-aps:APS高级排程产品手册:datasheet wp-oee:OEE提升实战指南:whitepaper")
TOPICS = {True: _words("MES报价 实施周期 私有化部署 与ERP集成 售后服务"),
          False: _words("发货时间 耗材兼容 退换货 使用教程")}
NORMAL_PREFIXES = _words("130 131 132 133 135 136 137 138 139 150 151 152 155 156 157 158 159 176 177 180 181 "
                         "182 185 186 187 188 189")
TWIN_PREFIXES = _words("191 193 195 196 198 199")  # a CRM duplicate's second phone: never anyone else's
SHOWCASE_PHONE, SHOWCASE_EMAIL = "13800138000", "zhangsan@jinggong-suzhou.com"
_COMPANY_KINDS = len(CITIES) * len(BRANDS) * len(LINES)
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_SPREAD = 2654435761  # odd, not a multiple of 5: i -> i * _SPREAD mod 10**8 (or 2**40) is one-to-one


@dataclass
class Person:
    """One fictional person; each source sees a partial, differently spelled copy."""

    index: int
    b2b: bool
    name: str
    gender: str
    phone: str
    email: str
    city: str
    province: str
    company: str
    industry: str
    job: str
    anonymous_id: str
    latin: str  # the name in pinyin, as some people type it into a shop on their phone
    split_in_crm: bool = False  # in the CRM twice: one row with the phone, one with the email

    @property
    def showcase(self) -> bool:
        """Person 0, 张三 (+86 138 0013 8000), is in every source, spelled differently in each."""
        return self.index == 0


@dataclass
class SampleFiles:
    directory: Path
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FILES, 0))  # data rows per file
    bad_rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FILES, 0))  # meant to be rejected

    def path(self, name: str) -> Path:
        return self.directory / FILES[name]


def write_sample_data(out_dir: Path, contacts: int = 2000, seed: int = 1,
                      events: int | None = None, as_of: date | None = None) -> SampleFiles:
    """Write the four files into ``out_dir``: ``contacts`` CRM rows, ``events`` web events (default 3×).

    Everything happens in the ~18 months before ``as_of`` (default 2026-01-01; the CLI passes today), so
    stages, dormancy and journeys mean something on the day the demo runs. One seed and one date always
    give the same bytes.
    """
    if contacts < 1 or (events is not None and events < 0):
        raise ValueError("contacts must be at least 1 and events not negative")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = SampleFiles(out_dir)
    with (open(result.path("crm"), "w", encoding="gbk", newline="") as crm,
          open(result.path("shop_customers"), "w", encoding="utf-8-sig", newline="") as shop,
          open(result.path("web_events"), "w", encoding="utf-8", newline="\n") as web,
          open(result.path("shop_orders"), "w", encoding="utf-8", newline="") as orders):
        gen = _Generator(random.Random(seed), seed, result, contacts, 3 * contacts if events is None else events,
                         web, base_of(as_of))
        gen.run(csv.writer(crm), csv.writer(shop), csv.writer(orders))
    return result


class _Generator:
    def __init__(self, rng: random.Random, seed: int, result: SampleFiles, contacts: int, events: int,
                 web: IO[str], base: datetime) -> None:
        self.rng, self.r, self.seed, self.result, self.base = rng, rng.random, seed, result, base
        self.contacts, self.events_left, self.web = contacts, events, web
        self.companies = min(max(contacts // 8, 30), _COMPANY_KINDS)
        self.crm_seq = 100000
        self.order_seq = self.event_seq = 0
        # A visitor who signs up later comes back days later: their events wait here (bounded by the
        # delay), so they land in a later import batch than the anonymous visits, as in real traffic.
        self.returns: list[tuple[int, int, list[str]]] = []
        self.sink: list[str] | None = None
        # People ≈ contacts / 0.62 (60% are B2B, plus CRM duplicates); about 75% browse the web site.
        # Their events use ~85% of the budget; visitors who never identify themselves get the rest.
        self.mean_events = max(1.0, 0.85 * events / (contacts / 0.62 * 0.75))

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.r() * len(items))]

    def _is_bad(self, name: str, rate: float = BAD_ROW_RATE) -> bool:
        """Whether this row is bad on purpose: about ``rate`` of rows, and one early on in any file."""
        bad = self.r() < rate or (self.result.bad_rows[name] == 0 and self.result.rows[name] >= 5)
        self.result.bad_rows[name] += bad
        return bad

    def run(self, crm: _RowWriter, shop: _RowWriter, orders: _RowWriter) -> None:
        self.crm, self.shop, self.orders = crm, shop, orders
        crm.writerow(CRM_HEADERS)
        shop.writerow(SHOP_CUSTOMER_HEADERS)
        orders.writerow(SHOP_ORDER_HEADERS)
        index = 0
        while self.result.rows["crm"] < self.contacts:
            while self.returns and self.returns[0][0] <= index:
                self.web.writelines(heapq.heappop(self.returns)[2])
            person = self._person(index)
            if person.b2b:
                self._crm_rows(person)
            self._shop_and_orders(person)
            self._web_visits(person)
            index += 1
        while self.events_left > 0:  # anonymous visitors who never sign up
            anonymous = self._anonymous_id(index)
            index += 1
            when = self.base - timedelta(days=1 + int(self.r() * 120), seconds=int(self.r() * 86400))
            for _ in range(min(self.events_left, 1 + int(self.r() * 4))):
                when += timedelta(seconds=int(20 + self.r() * 1800))
                self._page_view(anonymous, when, self.r() < 0.6)
        for _, _, lines in sorted(self.returns):
            self.web.writelines(lines)

    # --- people ---------------------------------------------------------------------------------

    def _person(self, index: int) -> Person:
        r = self.r
        b2b = index % 5 < 3
        surname, given = self.pick(SURNAMES), self.pick(GIVEN)
        phone = self.pick(NORMAL_PREFIXES) + f"{(index * _SPREAD + self.seed) % 10**8:08d}"
        if index == 0:
            surname, given, phone = ["张", "zhang"], ["三", "san", "男"], SHOWCASE_PHONE
        elif phone == SHOWCASE_PHONE:
            phone = "139" + phone[3:]
        if b2b:  # company j: spread over all city × brand × line combinations, one-to-one
            j = 0 if index == 0 else (int(r() * self.companies) * _SPREAD) % _COMPANY_KINDS
            city, brand = CITIES[j % len(CITIES)], BRANDS[(j // len(CITIES)) % len(BRANDS)]
            line = LINES[(j // (len(CITIES) * len(BRANDS))) % len(LINES)]
            company = f"{city[0]}{brand[0]}{line[0]}有限公司"
            email = f"{given[1]}.{surname[1]}{index}@{brand[1]}-{city[2]}.com" if index else SHOWCASE_EMAIL
            industry, job = self.pick(INDUSTRY_SPELLINGS[line[1]]), self.pick(JOBS)
        else:
            city, company, industry, job = self.pick(CITIES), "", "", ""
            email = f"{surname[1]}{given[1]}{index}@{self.pick(FREE_MAIL)}"
        return Person(index, b2b, surname[0] + given[0], given[2], phone, email, city[0], city[1], company,
                      industry, job, self._anonymous_id(index), f"{given[1].title()} {surname[1].title()}",
                      b2b and r() < 0.01)

    def _anonymous_id(self, index: int) -> str:
        return f"v{(index * _SPREAD + self.seed * 7919 + 104729) % 2**40:010x}"

    # --- CRM export (GBK, Chinese headers) ------------------------------------------------------

    def _crm_row(self, p: Person, name: str, phone: str, email: str, industry: str, job: str, city: str,
                 province: str, gender: str, updated: str, company: str = "", crm_id: bool = True) -> None:
        if self.result.rows["crm"] < self.contacts:
            self.crm_seq += crm_id
            self.crm.writerow([f"KH{self.crm_seq}" if crm_id else "", name, phone, email, company or p.company,
                               industry, job, city, province, gender, updated])
            self.result.rows["crm"] += 1

    def _crm_rows(self, p: Person) -> None:
        r, rng = self.r, self.rng
        name, phone = _name_text(rng, p.name), "" if r() < 0.1 else _phone_text(rng, p.phone)
        email = "" if r() < 0.25 else _email_text(rng, p.email)
        city, province = ("", "") if r() < 0.12 else (p.city, "" if r() < 0.1 else p.province)
        gender, job = "" if r() < 0.3 else p.gender, "" if r() < 0.1 else p.job
        industry = "" if r() < 0.08 else p.industry
        updated = _crm_date(rng, self.base - timedelta(days=1 + int(r() * 400), seconds=int(r() * 86400)))
        if p.showcase:
            name, phone, email, city, province = "张 三", "+86 138-0013-8000", " ZhangSan@JingGong-SuZhou.com ", "", ""
        if p.split_in_crm:  # two sales reps each typed in half of what they knew
            self._crm_row(p, name, _phone_text(rng, p.phone), "", industry, job, city, province,
                          gender, updated)
            self._crm_row(p, p.name, "", _email_text(rng, p.email), "", "", city, "", "", updated)
        else:
            if phone and not p.showcase and r() < 0.005:
                phone = phone[:-3]  # a typo: too short; a warning, the row still has its 客户编号
            self._crm_row(p, name, phone, email, industry, job, city, province, gender, updated)
        if r() < 0.015:  # a near-duplicate for a person to confirm: same name, company and city
            self._crm_row(p, _name_text(rng, p.name, spaced=True),
                          self.pick(TWIN_PREFIXES) + p.phone[3:], "", industry, job, p.city, p.province, gender,
                          updated, company=p.company.replace("有限公司", "股份有限公司"))
        if self.result.rows["crm"] < self.contacts and self._is_bad("crm"):
            kind = int(r() * 3)  # no identifier at all / an invalid email only / a non-phone only
            email = p.email.replace("@", "@@") if kind == 1 else ""
            self._crm_row(p, p.name, "400-800" if kind == 2 else "", email, p.industry, "", p.city, p.province,
                          "", "", crm_id=False)

    # --- the web shop (customers: UTF-8 with BOM; orders: UTF-8) ----------------------------------

    def _shop_and_orders(self, p: Person) -> None:
        r = self.r
        if p.b2b:
            registered, guest = p.split_in_crm or p.showcase or r() < 0.15, False
        else:
            roll = r()
            registered, guest = roll < 0.75, 0.75 <= roll < 0.85
        if registered:
            self._shop_customer(p)
        if registered or guest:
            roll = r()
            count = 0 if roll < 0.25 and not guest else 1 if roll < 0.65 else 2 if roll < 0.85 else 3 + int(r() * 3)
            for _ in range(max(count, 2 * p.showcase)):
                self._order(p)

    def _shop_customer(self, p: Person) -> None:
        r, rng = self.r, self.rng
        self.result.rows["shop_customers"] += 1
        if not p.showcase and self._is_bad("shop_customers"):  # no identifier / an invalid email only
            self.shop.writerow([p.name, "", "" if r() < 0.5 else p.email.replace("@", "#"), p.city, "", ""])
            return
        both = p.split_in_crm or p.showcase  # this row is what ties the two CRM halves together
        has_phone = both or r() < 0.85
        has_email = both or not has_phone or r() < 0.5
        name = "" if r() < 0.35 and not both else _name_text(rng, p.name, latin="" if p.b2b else p.latin)
        mobile = _phone_text(rng, p.phone) if has_phone else ""
        email = _email_text(rng, p.email) if has_email else ""
        roll = r()
        age = "" if roll < 0.65 else "300" if roll < 0.67 else f"{18 + int(r() * 45)}{'岁' if r() < 0.2 else ''}"
        tags = "企业采购" if p.b2b else self.pick(TAG_SEPARATORS).join(
            dict.fromkeys(self.pick(SHOP_TAGS) for _ in range(1 + int(r() * 2))))
        city = "" if r() < 0.2 and not both else p.city
        if p.showcase:
            name, mobile, email = "张三", SHOWCASE_PHONE.translate(_FULL_WIDTH), SHOWCASE_EMAIL
        self.shop.writerow([name, mobile, email, city, age, tags])

    def _order(self, p: Person) -> None:
        r = self.r
        self.order_seq += 1
        order_id = f"SO{self.order_seq:09d}"
        when = self.base - timedelta(days=int(r() * 180), seconds=int(r() * 86400))
        occurred = when.isoformat(timespec="seconds") if r() < 0.7 else when.strftime("%Y-%m-%d %H:%M:%S")
        products = [self.pick(PRODUCTS) for _ in range(1 + int(r() * 2))]
        amount = f"{sum(int(x[2]) for x in products):.2f}"
        use_phone = r() < 0.7
        phone = _phone_text(self.rng, p.phone) if use_phone else ""
        email = "" if use_phone else _email_text(self.rng, p.email)
        if p.showcase:
            phone, email = "0086 13800138000", ""
        elif self._is_bad("shop_orders"):
            if r() < 0.5:
                amount = ""  # order_paid requires an amount
            else:
                phone = email = ""  # nobody to attach the order to
        self.orders.writerow([order_id, "order_paid", occurred, order_id, phone, email, amount, "CNY",
                              str(len(products)), ",".join(x[0] for x in products)])
        self.result.rows["shop_orders"] += 1

    # --- web tracking (JSON lines) --------------------------------------------------------------

    def _event(self, event: dict[str, object]) -> None:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        if self.sink is None:
            self.web.write(line)
        else:
            self.sink.append(line)
        self.result.rows["web_events"] += 1
        self.events_left -= 1

    def _event_id(self) -> str:
        self.event_seq += 1
        return f"w{self.seed}-{self.event_seq:09d}"

    def _page_view(self, anonymous: str, when: datetime, b2b: bool) -> None:
        if self._is_bad("web_events"):  # a bot without a cookie: no identifier at all
            self._event({"id": self._event_id(), "type": "page_view", "occurred_at": when.isoformat(),
                         "properties": {"url": "/"}})
            return
        if b2b:
            url, title = self.pick(B2B_PAGES)
            props = {"url": url, "title": title}
        else:
            product = self.pick(PRODUCTS)
            props = {"url": f"/shop/p/{product[0]}", "title": product[1], "product_id": product[0]}
        self._event({"id": self._event_id(), "type": "page_view", "occurred_at": when.isoformat(),
                     "anonymous_id": anonymous, "properties": props})

    def _web_visits(self, p: Person) -> None:
        r = self.r
        if self.events_left <= 0 or (r() >= 0.75 and not p.showcase):
            return
        count = max(1, round(self.rng.expovariate(1 / self.mean_events)), 6 * p.showcase)
        count = min(self.events_left, 80, count)
        identify_at = max(1, count // 2) if count >= 2 and (p.showcase or r() < 0.55) else count
        when = self.base - timedelta(days=20 + int(r() * 120), seconds=int(r() * 86400))
        for n in range(count):
            when += timedelta(seconds=int(60 + r() * 18000))
            if n == identify_at and r() < 0.8:
                self.sink = []
                when += timedelta(days=1 + int(r() * 20))
            if n == identify_at:
                self._identify(p, when.isoformat())
            elif n > identify_at and r() < 0.35:
                self._follow_up(p, when)
            else:
                self._page_view(p.anonymous_id, when, p.b2b)
        if self.sink is not None:
            heapq.heappush(self.returns, (p.index + 50 + int(r() * 600), p.index, self.sink))
            self.sink = None

    def _identify(self, p: Person, at: str) -> None:
        """The moment an anonymous visitor says who they are: their cookie joins a known contact."""
        who: dict[str, object] = {"anonymous_id": p.anonymous_id}
        if p.b2b and self.r() < 0.6:
            who |= {"email": _email_text(self.rng, p.email), "phone": p.phone}
            self._event({"id": self._event_id(), "type": "form_submit", "occurred_at": at, **who,
                         "properties": {"form_id": "demo-request", "page": "/pricing"}})
            return
        method = "email" if p.b2b or self.r() < 0.5 else "phone"
        who[method] = _email_text(self.rng, p.email) if method == "email" else _phone_text(self.rng, p.phone)
        self._event({"id": self._event_id(), "type": "signup", "occurred_at": at, **who,
                     "properties": {"method": method}})

    def _follow_up(self, p: Person, when: datetime) -> None:
        roll, at = self.r(), when.isoformat()
        if p.b2b and roll < 0.45:
            content_id, title, kind = self.pick(CONTENT)
            props = {"content_id": content_id, "title": title, "content_type": kind}
            if self._is_bad("web_events", BAD_ROW_RATE * 5):  # the tracker lost the asset id
                del props["content_id"]
            self._event({"id": self._event_id(), "type": "content_download", "occurred_at": at,
                         "anonymous_id": p.anonymous_id, "email": p.email, "properties": props})
        elif p.b2b and roll < 0.65:
            self._event({"id": self._event_id(), "type": "quote_opened", "occurred_at": at, "email": p.email,
                         "properties": {"quote_id": f"Q{p.index:08d}"}})
        elif roll < 0.8:  # from the call-centre log: no event id (a stable one is derived), a phone
            bad = self._is_bad("web_events", BAD_ROW_RATE * 5)
            self._event({"type": "consult", "occurred_at": "上周三" if bad else at,  # a date nobody can read
                         "phone": _phone_text(self.rng, p.phone),
                         "properties": {"channel": self.pick(("phone", "chat", "wecom")),
                                        "topic": self.pick(TOPICS[p.b2b]),
                                        "converted": self.r() < 0.2}})  # the CRM's "consulted, not ordered"
        else:
            self._page_view(p.anonymous_id, when, p.b2b)


def _phone_text(rng: random.Random, digits: str) -> str:
    a, b, c = digits[:3], digits[3:7], digits[7:]
    roll = rng.random()
    for limit, text in ((0.40, digits), (0.52, f"{a} {b} {c}"), (0.64, f"{a}-{b}-{c}"),
                        (0.74, f"+86 {a}-{b}-{c}"), (0.80, f"+86 {digits}"), (0.86, f"0086 {digits}"),
                        (0.92, f"+86{digits}"), (0.97, digits.translate(_FULL_WIDTH))):
        if roll < limit:
            return text
    return f"86-{digits}"


def _email_text(rng: random.Random, email: str) -> str:
    roll = rng.random()
    if roll < 0.70:
        return email
    if roll < 0.82:
        local, _, domain = email.partition("@")
        return ".".join(x.capitalize() for x in local.split(".")) + "@" + domain.capitalize()
    if roll < 0.92:
        return f" {email} "
    return email.upper() if roll < 0.97 else email + "\u3000"  # a full-width space pasted from a document


def _name_text(rng: random.Random, name: str, spaced: bool = False, latin: str = "") -> str:
    roll = rng.random()
    if spaced or roll < 0.07:
        return f"{name[0]} {name[1:]}"  # 张 三
    if roll < 0.10:
        return f"{name[0]}\u3000{name[1:]}"
    if roll < 0.15:
        return f" {name} "
    if latin and roll < 0.17:  # full-width Latin letters, as a Chinese input method types them
        return "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in latin)
    return name


def _crm_date(rng: random.Random, when: datetime) -> str:
    roll = rng.random()
    if roll < 0.55:
        return when.strftime("%Y-%m-%d %H:%M:%S")
    if roll < 0.75:
        return f"{when.year}/{when.month}/{when.day} {when:%H:%M}"
    return f"{when.year}年{when.month}月{when.day}日" if roll < 0.90 else when.strftime("%Y%m%d")
