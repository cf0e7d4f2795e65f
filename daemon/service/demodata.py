"""Sample service data for the three sample hotlines (printer vendor, water utility, sales desk).

``hotline demo-data [--seed N]`` replaces the rows of the service tables with generated ones. The
same seed and day give the same data. A few "anchor" rows never change with the seed (``SAMPLES``),
so scenario tests and a person trying the demo know a caller id, serial number or order number.
Demo member PINs are the last 4 digits of the member number (member 86012345 -> PIN 2345).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
from typing import Any

from ..box import localtime
from .lookups import AREA_CODES, DUE_HOURS, PROVINCES, ServiceDataError, hash_pin, money, normalize_number
from ..store.models import Setting
from ..store.service_models import (
    Customer, CustomerPhone, Dealer, Faq, Order, OrderStatus, Product, RepairCenter, Ticket, TicketHistory,
    TicketPriority, Warranty, WaterAccount)

MARKER = "demo_data"  # settings row: present when the service tables hold generated data
DEMO_PIN_COST = 2**10  # demo PINs are public (last 4 digits): a low scrypt cost keeps loading fast
# Delete order: rows that point at others first. Callbacks, voicemail and fax jobs are left alone.
DEMO_MODELS = (TicketHistory, Ticket, Order, WaterAccount, Warranty, CustomerPhone, Customer, Faq, Product,
               Dealer, RepairCenter)

SAMPLES: dict[str, Any] = {
    "printer_caller": "13800138000", "printer_caller_name": "张伟", "printer_landline": "01062345678",
    "serial_in_warranty": "2024100001", "card_no": "880000000001", "serial_model": "1020",
    "serial_expired": "2019030001", "faq_code": "1020", "product_model": "1020",
    "dealer_area_code": "0755", "dealer_fallback_area_code": "0769", "no_dealer_area_code": "0898",
    "repair_region": "华南", "water_caller": "13900139000", "water_caller_name": "李娜",
    "water_account": "10000001", "water_district": "朝阳", "water_last_bill_cents": 12305,
    "water_balance_cents": -12305, "member_no": "86012345", "member_pin": "2345", "member_caller": "13700137000",
    "member_name": "王芳", "english_caller": "13600136000", "orders": {
        "received": "20260001", "paid": "20260002", "shipped": "20260003", "delivered": "20260004",
        "cancelled": "20260005"}}

DEALER_CODES = ("010", "021", "020", "0755", "028", "027", "029", "025", "0512", "0571", "023", "022", "0532",
                "0531", "024", "0411", "0731", "0591", "0592", "0371")  # 15 provinces; 0769/0898 have none
CENTERS = (("010", "华北"), ("022", "华北"), ("024", "东北"), ("021", "华东"), ("0571", "华东"),
           ("025", "华东"), ("027", "华中"), ("0731", "华中"), ("020", "华南"), ("0755", "华南"),
           ("028", "西南"), ("023", "西南"), ("029", "西北"))
WATER_DISTRICTS = ("东城", "西城", "朝阳", "海淀", "丰台", "石景山", "通州", "昌平")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红鹏辉建国志文斌宇浩晨欣怡子涵梓轩佳琪雨婷"
ENGLISH = ("John Smith", "Emma Brown", "David Miller", "Sarah Wilson", "Michael Clark", "Laura Martin",
           "James Taylor", "Anna Walker", "Peter Hall", "Julia Young")
ROADS = ("建国路", "朝阳北路", "中关村大街", "学院路", "人民路", "解放路", "中山路", "和平路", "光明路", "新华路",
         "东风路", "滨江大道")
DEALER_WORDS = ("办公设备", "科技", "数码", "电脑", "商贸", "信息技术")
MOBILE_PREFIXES = ("130", "131", "132", "135", "136", "137", "139", "150", "151", "152", "155", "158", "159",
                   "166", "176", "177", "180", "182", "186", "187", "188", "189")
WATER_FAULTS = (("no_water", "家中停水"), ("low_pressure", "水压低"), ("leak", "管道漏水"),
                ("water_quality", "水质发黄"), ("meter", "水表不走字"), ("billing", "账单金额有疑问"))

# ------------------------------------------------------------------ the printer vendor's catalogue

_CONN = {"usb": ("USB 2.0", "USB 2.0"), "net": ("USB 2.0 与千兆以太网", "USB 2.0 and Gigabit Ethernet"),
         "wifi": ("USB 2.0、以太网与 Wi-Fi", "USB 2.0, Ethernet and Wi-Fi")}
_KIND = {"inkjet": ("喷墨打印机", "InkJet"), "laser": ("激光打印机", "LaserPro"), "mfp": ("多功能一体机", "MFP")}
_PRINTERS = (  # model, category, kind, paper, colour, pages per minute, dpi, connection, yuan
    ("1110", "inkjet", "inkjet", "A4", True, 7, 1200, "usb", 399),
    ("2130", "inkjet", "mfp", "A4", True, 8, 1200, "usb", 499),
    ("2620", "inkjet", "mfp", "A4", True, 10, 1200, "wifi", 699),
    ("3630", "inkjet", "inkjet", "A4", True, 12, 4800, "wifi", 899),
    ("4520", "inkjet", "mfp", "A4", True, 15, 4800, "wifi", 1299),
    ("5820", "inkjet", "inkjet", "A3", True, 18, 4800, "net", 2499),
    ("6960", "inkjet", "mfp", "A4", True, 22, 1200, "net", 1899),
    ("1020", "laser", "laser", "A4", False, 14, 600, "usb", 1099),
    ("1108", "laser", "laser", "A4", False, 18, 600, "usb", 999),
    ("1136", "laser", "mfp", "A4", False, 20, 600, "usb", 1499),
    ("2035", "laser", "laser", "A4", False, 30, 1200, "net", 2399),
    ("2055", "laser", "laser", "A4", False, 35, 1200, "net", 3299),
    ("3015", "laser", "laser", "A4", True, 16, 600, "wifi", 2999),
    ("4014", "laser", "laser", "A4", False, 40, 1200, "net", 4599),
    ("5200", "laser", "laser", "A3", False, 35, 1200, "net", 7999),
    ("6030", "laser", "mfp", "A4", True, 30, 1200, "net", 5999),
    ("7500", "laser", "laser", "A3", True, 30, 1200, "net", 12999),
)
_OTHER = (  # model, category, name zh, name en, specs zh, specs en, price in cents
    ("1600", "dot_matrix", "针式打印机", "Dot Matrix", "24 针，80 列，1+6 联复写", "24-pin, 80 columns, 1+6 copies", 189900),
    ("6300", "dot_matrix", "票据针式打印机", "Invoice Dot Matrix", "24 针，82 列，发票与快递单平推",
     "24-pin, 82 columns, flat-bed for invoices and waybills", 219900),
    ("7350", "dot_matrix", "针式打印机", "Dot Matrix", "24 针，106 列，高速 330 字符/秒",
     "24-pin, 106 columns, 330 characters per second", 289900),
    ("8180", "dot_matrix", "宽行针式打印机", "Wide Dot Matrix", "24 针，136 列，报表打印", "24-pin, 136 columns, reports",
     399900), ("9630", "dot_matrix", "行式打印机", "Line Matrix", "1000 行/分钟，136 列", "1000 lines per minute, 136 columns",
     499900),
    ("3100", "network_card", "内置打印服务器", "Internal Print Server", "10/100M 以太网", "10/100M Ethernet", 59900),
    ("3200", "network_card", "内置打印服务器", "Internal Print Server", "千兆以太网，IPv6", "Gigabit Ethernet, IPv6", 89900),
    ("3300", "network_card", "无线打印服务器", "Wireless Print Server", "Wi-Fi 802.11ac 与以太网",
     "Wi-Fi 802.11ac and Ethernet", 79900),
    ("3400", "network_card", "外置打印服务器", "External Print Server", "USB 接口，10/100M 以太网",
     "USB port, 10/100M Ethernet", 49900),
    ("5510", "accessory", "500 页进纸盒", "500-Sheet Tray", "适用 2035/2055/4014", "for 2035/2055/4014", 69900),
    ("5520", "accessory", "双面打印单元", "Duplex Unit", "适用 1020/1108", "for 1020/1108", 89900),
    ("5530", "accessory", "USB 打印线 3 米", "USB Cable 3 m", "USB 2.0 A 转 B", "USB 2.0 A to B", 2990),
    ("5540", "accessory", "256MB 内存条", "256 MB Memory", "适用 5200/7500", "for 5200/7500", 39900),
    ("5550", "accessory", "打印机底柜", "Printer Cabinet", "适用 A3 机型", "for A3 models", 59900),
    ("7020", "consumable", "黑色硒鼓", "Black Toner", "适用 1020，约 2000 页", "for 1020, about 2,000 pages", 46900),
    ("7035", "consumable", "黑色硒鼓", "Black Toner", "适用 2035/2055，约 6000 页", "for 2035/2055, about 6,000 pages",
     75900), ("7100", "consumable", "黑色墨盒", "Black Ink", "适用喷墨机型，约 480 页", "for inkjets, about 480 pages",
     12900), ("7101", "consumable", "三色彩色墨盒", "Tri-colour Ink", "适用喷墨机型，约 330 页",
     "for inkjets, about 330 pages", 14900),
    ("7160", "consumable", "色带架", "Ribbon", "适用 1600/6300", "for 1600/6300", 3950),
    ("7200", "consumable", "A3 黑色硒鼓", "A3 Black Toner", "适用 5200，约 12000 页", "for 5200, about 12,000 pages", 89900),
    ("9010", "spare_part", "定影组件", "Fuser Assembly", "适用 1020/1108", "for 1020/1108", 59900),
    ("9020", "spare_part", "搓纸轮", "Pickup Roller", "通用 A4 激光机型", "A4 laser models", 5900),
    ("9030", "spare_part", "打印头", "Print Head", "适用 1600/6300", "for 1600/6300", 89900),
    ("9040", "spare_part", "转印辊", "Transfer Roller", "适用 2035/2055", "for 2035/2055", 19900),
    ("9050", "spare_part", "主控板", "Formatter Board", "适用 2035", "for 2035", 129900))


def _catalogue_rows() -> list[tuple[str, str, str, str, str, str, int]]:
    rows = []
    for model, cat, kind, paper, colour, ppm, dpi, conn, yuan in _PRINTERS:
        kz, ke = _KIND[kind]
        cz, ce = _CONN[conn]
        rows.append((model, cat, f"HL {kz} {model}", f"HL {ke} {model}",
                     f"{paper} {'彩色' if colour else '黑白'}，每分钟 {ppm} 页，{dpi}×{dpi} dpi，{cz}",
                     f"{paper} {'colour' if colour else 'mono'}, {ppm} pages per minute, {dpi}×{dpi} dpi, {ce}",
                     yuan * 100))
    return rows + [(m, c, f"HL {nz} {m}", f"HL {ne} {m}", sz, se, p) for m, c, nz, ne, sz, se, p in _OTHER]


PRODUCTS = _catalogue_rows()
FAQ_GENERAL = (
    ("100", "保修政策是什么？", "What is the warranty policy?",
     "激光打印机整机保修两年，喷墨和针式打印机保修一年，凭保修卡或序列号享受免费维修。",
     "Laser printers have a two-year warranty, inkjet and dot matrix printers one year; repairs are free "
     "with the warranty card or the serial number."),
    ("200", "到哪里下载驱动程序？", "Where do I get the printer driver?",
     "驱动程序随机附带光盘，也可以请经销商拷贝，或传真索取安装说明。",
     "The driver is on the disc in the box; your dealer can copy it, or ask for the setup sheet by fax."),
    ("300", "旧硒鼓怎样回收？", "How are empty toner cartridges recycled?",
     "请将旧硒鼓交给任一经销商，免费回收并赠送积分。",
     "Hand empty cartridges to any dealer: they are recycled free of charge and earn points."))
FAQ_BY_CATEGORY = {
    "inkjet": ("{name} 打印有白线或颜色不对怎么办？", "{name}: white lines or wrong colours?",
               "请在控制面板选择维护，运行喷头清洗，最多连续三次；仍有问题请更换墨盒或联系授权维修中心。",
               "Choose Maintenance on the control panel and run head cleaning up to three times; if it persists, "
               "replace the cartridge or contact an authorized repair center."),
    "laser": ("{name} 卡纸怎么办？", "{name}: how do I clear a paper jam?",
              "请关闭电源，打开前盖取出硒鼓，沿出纸方向缓慢拉出纸张，装回硒鼓后开机。请使用 70 至 90 克复印纸。",
              "Switch off, open the front cover, take out the toner cartridge and pull the sheet out slowly in "
              "the direction of paper travel, then put the cartridge back and switch on. Use 70 to 90 gram paper."),
    "dot_matrix": ("{name} 字迹太浅怎么办？", "{name}: the print is too faint?",
                   "请把纸厚调节杆调到与复写联数相符的位置，并更换色带。",
                   "Set the paper thickness lever to match the number of copies and replace the ribbon."),
}


class _Gen:
    """One generation run: a seeded random source, the day it is relative to, and unique-value pools."""

    def __init__(self, seed: int, today: dt.date):
        self.rnd = random.Random(seed)
        self.today = today
        self.base = time.mktime(dt.datetime.combine(today, dt.time(9, 0)).timetuple())
        self.used: set[str] = {SAMPLES[k] for k in ("printer_caller", "water_caller", "member_caller",
                                                    "english_caller", "member_no", "water_account")}
        self.used.update(SAMPLES["orders"].values())

    def unique(self, make: Any) -> str:
        """A value from ``make()`` not handed out before in this run."""
        while True:
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value

    def digits(self, n: int) -> str:
        """n random digits."""
        return "".join(self.rnd.choice("0123456789") for _ in range(n))

    def mobile(self) -> str:
        """A unique realistic mobile number."""
        return self.unique(lambda: self.rnd.choice(MOBILE_PREFIXES) + self.digits(8))

    def name(self) -> str:
        """A Chinese personal name."""
        return self.rnd.choice(SURNAMES) + "".join(self.rnd.choice(GIVEN) for _ in range(self.rnd.choice((1, 2))))

    def ago(self, max_days: float, min_days: float = 0) -> float:
        """A timestamp between min_days and max_days before 09:00 of the generation day."""
        return round(self.base - self.rnd.uniform(min_days, max_days) * 86400, 3)


def _customer(g: _Gen, name: str, phones: list[tuple[str, str]], **fields: Any) -> int:
    ts = fields.pop("created_at", None) or g.ago(900, 30)
    code = fields.get("area_code")
    if code and "province" not in fields:
        fields["province"] = AREA_CODES[code][0]
    if fields.get("province"):
        fields.setdefault("region", PROVINCES[fields["province"]][1])
    cid = Customer.insert(name=name, created_at=ts, updated_at=ts, **fields).execute()
    CustomerPhone.insert_many([{"customer": cid, "number": normalize_number(n), "kind": k}
                               for n, k in phones]).execute()
    return cid


def _catalogue(g: _Gen) -> None:
    Product.insert_many([{"model": m, "category": c, "name_zh": nz, "name_en": ne, "specs_zh": sz,
                          "specs_en": se, "price_cents": p, "stock": g.rnd.randint(0, 120), "active": True}
                         for m, c, nz, ne, sz, se, p in PRODUCTS]).execute()
    rows = [{"code": code, "question_zh": qz, "question_en": qe, "answer_zh": az, "answer_en": ae,
             "product_model": None} for code, qz, qe, az, ae in FAQ_GENERAL]
    for m, c, nz, ne, *_ in PRODUCTS:
        if c in FAQ_BY_CATEGORY:
            qz, qe, az, ae = FAQ_BY_CATEGORY[c]
            rows.append({"code": m, "question_zh": qz.format(name=nz), "question_en": qe.format(name=ne),
                         "answer_zh": az.format(name=nz), "answer_en": ae.format(name=ne), "product_model": m})
    Faq.insert_many(rows).execute()


def _places(g: _Gen) -> dict[str, int]:
    dealers = []
    for code in DEALER_CODES:
        province, city = AREA_CODES[code]
        for _ in range(g.rnd.choice((1, 2, 2))):
            dealers.append({"name": f"{city}{g.rnd.choice(('华信', '恒通', '联创', '金桥', '博远', '新科'))}"
                                    f"{g.rnd.choice(DEALER_WORDS)}有限公司", "province": province, "city": city,
                            "area_code": code, "phone": f"{code}-{g.rnd.randint(2, 8)}{g.digits(7)}",
                            "address": f"{city}市{g.rnd.choice(ROADS)}{g.rnd.randint(1, 300)}号"})
    Dealer.insert_many(dealers).execute()
    centers = []
    for code, region in CENTERS:
        city = AREA_CODES[code][1]
        authorized = code != "0731"  # one contracted, not authorized, workshop
        centers.append({"name": f"HL 授权维修中心（{city}）" if authorized else f"{city}特约维修点",
                        "region": region, "district": None, "area_code": code, "authorized": authorized,
                        "phone": f"{code}-{g.rnd.randint(5, 8)}{g.digits(7)}",
                        "address": f"{city}市{g.rnd.choice(ROADS)}{g.rnd.randint(1, 300)}号"})
    for district in WATER_DISTRICTS:  # utility stations: found by district only
        centers.append({"name": f"{district}供水抢修站", "region": None, "district": district, "area_code": None,
                        "authorized": True,
                        "phone": f"010-6{g.digits(7)}", "address": f"北京市{district}区{g.rnd.choice(ROADS)}"
                                                               f"{g.rnd.randint(1, 99)}号"})
    RepairCenter.insert_many(centers).execute()
    stations: dict[str, int] = {}  # district -> its station, region -> its first center
    for row in RepairCenter.select().order_by(RepairCenter.id):
        stations.setdefault(row.district or row.region, row.id)
    return stations


def _printer_owners(g: _Gen) -> list[tuple[int, str]]:
    """Printer owners with their units; returns (customer id, area code) of each owner."""
    printers = [p[0] for p in PRODUCTS if p[1] in ("inkjet", "laser", "dot_matrix")]
    owners = [(_customer(g, SAMPLES["printer_caller_name"], [(SAMPLES["printer_caller"], "mobile"),
                         (SAMPLES["printer_landline"], "landline")], area_code="010",
                         address="北京市海淀区中关村大街27号"), "010")]
    owners.append((_customer(g, "John Smith", [(SAMPLES["english_caller"], "mobile")], area_code="021",
                             language="en_US", address="上海市静安区南京西路1266号"), "021"))
    for i in range(58):
        code = g.rnd.choice(list(AREA_CODES))
        english = i % 10 == 9
        phones = [(g.mobile(), "mobile")] + ([(f"{code}{g.rnd.randint(2, 8)}{g.digits(7)}", "landline")]
                                             if i % 3 == 0 else [])
        owners.append((_customer(g, g.rnd.choice(ENGLISH) if english else g.name(), phones, area_code=code,
                                 language="en_US" if english else "zh_CN", vip=i % 12 == 0,
                                 address=f"{AREA_CODES[code][1]}市{g.rnd.choice(ROADS)}{g.rnd.randint(1, 400)}号"),
                       code))
    days = lambda d: (g.today - dt.timedelta(days=d)).isoformat()  # noqa: E731
    units = [{"serial_no": SAMPLES["serial_in_warranty"], "product_model": "1020", "customer": owners[0][0],
              "purchased_on": days(200), "warranty_until": days(200 - 730), "card_no": SAMPLES["card_no"]},
             {"serial_no": SAMPLES["serial_expired"], "product_model": "5200", "customer": owners[0][0],
              "purchased_on": "2019-03-15", "warranty_until": "2020-03-14", "card_no": None}]
    g.used.update({SAMPLES["serial_in_warranty"], SAMPLES["serial_expired"], SAMPLES["card_no"]})
    for cid in [o[0] for o in owners[1:] for _ in range(g.rnd.randint(1, 3))] + [None] * 20:
        model, age = g.rnd.choice(printers), g.rnd.randint(10, 1500)
        months = 24 if model in [p[0] for p in PRODUCTS if p[1] == "laser"] else 12
        units.append({"serial_no": g.unique(lambda: g.rnd.choice("12") + g.digits(9)), "product_model": model,
                      "customer": cid, "purchased_on": days(age), "warranty_until": days(age - months * 30),
                      "card_no": g.unique(lambda: "88" + g.digits(10)) if g.rnd.random() < 0.7 else None})
    Warranty.insert_many(units).execute()
    return owners


def _water(g: _Gen) -> list[tuple[int, str]]:
    """Water customers and accounts; returns (customer id, district) of each."""
    month = (g.today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    anchor = _customer(g, SAMPLES["water_caller_name"], [(SAMPLES["water_caller"], "mobile")],
                       district=SAMPLES["water_district"], province="北京", area_code="010",
                       address="北京市朝阳区光明路18号3单元502")
    people, accounts = [(anchor, SAMPLES["water_district"])], [{
        "account_no": SAMPLES["water_account"], "customer": anchor, "district": SAMPLES["water_district"],
        "address": "北京市朝阳区光明路18号3单元502", "meter_no": "5800000001",
        "balance_cents": SAMPLES["water_balance_cents"], "last_bill_cents": SAMPLES["water_last_bill_cents"],
        "last_bill_month": month}]
    for _ in range(79):
        district = g.rnd.choice(WATER_DISTRICTS)
        address = f"北京市{district}区{g.rnd.choice(ROADS)}{g.rnd.randint(1, 200)}号{g.rnd.randint(1, 9)}单元" \
                  f"{g.rnd.randint(1, 24)}0{g.rnd.randint(1, 4)}"
        cid = _customer(g, g.name(), [(g.mobile(), "mobile")], district=district, province="北京",
                        area_code="010", address=address)
        people.append((cid, district))
        for _ in range(2 if g.rnd.random() < 0.1 else 1):
            bill = g.rnd.randint(1500, 30000)
            accounts.append({"account_no": g.unique(lambda: "1" + g.digits(7)), "customer": cid,
                             "district": district, "address": address,
                             "meter_no": g.unique(lambda: "58" + g.digits(8)),
                             "balance_cents": g.rnd.choice((0, 0, -bill, g.rnd.randint(1, 50000))),
                             "last_bill_cents": bill, "last_bill_month": month})
    WaterAccount.insert_many(accounts).execute()
    return people


def _members(g: _Gen) -> None:
    """Sales-desk members (PIN = last 4 digits of the member number) and their orders."""
    prices = {p[0]: (p[1], p[2], p[6]) for p in PRODUCTS}
    member_ids = [_customer(g, SAMPLES["member_name"], [(SAMPLES["member_caller"], "mobile")], area_code="020",
                            member_no=SAMPLES["member_no"], vip=True, address="广州市天河区中山大道89号",
                            pin_hash=hash_pin(SAMPLES["member_pin"], DEMO_PIN_COST))]
    for i in range(39):
        number = g.unique(lambda: "86" + g.digits(6))
        code = g.rnd.choice(list(AREA_CODES))
        member_ids.append(_customer(g, g.name(), [(g.mobile(), "mobile")], area_code=code, member_no=number,
                                    vip=i % 8 == 0, pin_hash=hash_pin(number[-4:], DEMO_PIN_COST),
                                    address=f"{AREA_CODES[code][1]}市{g.rnd.choice(ROADS)}{g.rnd.randint(1, 400)}号"))
    orders = []
    statuses = [s.value for s in OrderStatus]
    fixed = [(SAMPLES["orders"][s], member_ids[0], s) for s in statuses]
    rest = [(g.unique(lambda: "2026" + g.digits(4)), g.rnd.choice(member_ids),
             g.rnd.choices(statuses, (2, 2, 3, 6, 1))[0]) for _ in range(60)]
    for order_no, cid, status in fixed + rest:
        model = g.rnd.choice(list(prices))
        qty = g.rnd.randint(1, 5) if prices[model][0] in ("consumable", "accessory", "spare_part") else 1
        created = g.ago(60, 1)
        orders.append({"order_no": order_no, "customer": cid, "status": status,
                       "amount_cents": prices[model][2] * qty, "description": f"{prices[model][1]} ×{qty}",
                       "created_at": created, "updated_at": min(created + g.rnd.uniform(0, 5) * 86400, g.base)})
    Order.insert_many(orders).execute()


def _tickets(g: _Gen, stations: dict[str, int], water: list, owners: list) -> int:
    """Water fault tickets routed to district stations and printer repair tickets; numbered per day."""
    rows = [{"type": "leak", "priority": "high", "status": "assigned", "customer": water[0][0],
             "caller_number": SAMPLES["water_caller"], "district": water[0][1], "summary": "厨房水管漏水",
             "repair_center": stations[water[0][1]], "created_at": g.ago(1.0, 0.9)}]
    for _ in range(25):
        (cid, district), (kind, text) = g.rnd.choice(water[1:]), g.rnd.choice(WATER_FAULTS)
        rows.append({"type": kind, "customer": cid, "district": district, "summary": text,
                     "repair_center": stations[district], "created_at": g.ago(30)})
    for _ in range(15):
        cid, code = g.rnd.choice(owners[1:])
        region = PROVINCES[AREA_CODES[code][0]][1]
        rows.append({"type": "repair", "customer": cid, "district": None, "summary": "打印机卡纸，报错 E02",
                     "repair_center": stations[region], "created_at": g.ago(30)})
    per_day: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: r["created_at"]):
        day = localtime.fmt(row["created_at"], localtime.current(), "compact")
        per_day[day] = per_day.get(day, 0) + 1
        row["ticket_no"] = f"T{day}-{per_day[day]:04d}"
        row.setdefault("status", g.rnd.choice(("open", "assigned", "in_progress", "resolved", "closed", "closed")))
        row.setdefault("priority", g.rnd.choice(("low", "normal", "normal", "high")))
        if "caller_number" not in row:  # insert_many takes its columns from the first row: same keys in all
            row["caller_number"] = CustomerPhone.select().where(CustomerPhone.customer == row["customer"]) \
                .order_by(CustomerPhone.id).first().number
        row["due_at"] = row["created_at"] + DUE_HOURS[TicketPriority(row["priority"])] * 3600
        row["updated_at"] = row["created_at"] + (3600 if row["status"] != "open" else 0)
    Ticket.insert_many(rows).execute()
    history = [{"ticket": t.id, "ts": t.created_at, "actor": "ivr", "action": "opened", "note": t.summary}
               for t in Ticket.select().order_by(Ticket.id)]
    history += [{"ticket": t.id, "ts": t.updated_at, "actor": "dispatcher", "action": t.status, "note": ""}
                for t in Ticket.select().where(Ticket.status != "open").order_by(Ticket.id)]
    TicketHistory.insert_many(history).execute()
    return len(rows)


def generate(seed: int = 1, *, today: dt.date | None = None, replace: bool = False) -> dict[str, int]:
    """Replace the service tables' rows with sample data (run inside a write transaction); counts per table.

    Refuses when the tables hold rows that demo-data did not make, unless ``replace`` is set.
    """
    marker = Setting.get_or_none(Setting.name == MARKER)
    if marker is None and not replace:
        busy = [m._meta.table_name for m in DEMO_MODELS if m.select().exists()]
        if busy:
            raise ServiceDataError(f"demo-data: {', '.join(busy)} hold data not made by demo-data; "
                                   "run again with --replace to delete it and load the sample data")
    for model in DEMO_MODELS:
        model.delete().execute()
    g = _Gen(seed, today or dt.date.today())
    _catalogue(g)
    stations = _places(g)
    owners = _printer_owners(g)
    water = _water(g)
    _members(g)
    _tickets(g, stations, water, owners)
    Setting.insert(name=MARKER, value=json.dumps({"seed": seed, "day": g.today.isoformat()})).on_conflict(
        conflict_target=[Setting.name], preserve=[Setting.value]).execute()
    return {m._meta.table_name: m.select().count() for m in reversed(DEMO_MODELS)}



def load_history(args: argparse.Namespace, store: Any, cfg: Any) -> None:
    """Simulate the call history into the journal and CDRs, then fold the report summaries."""
    import json as _json
    import time as _time

    import peewee

    from ..stats import history, summary
    from ..store.db import proxy
    from ..store.models import AgentRow, QueueRow
    started = _time.monotonic()

    def setup() -> tuple[list[dict], list[int]]:
        queues = [{"name": q.name, **_json.loads(q.settings)} for q in QueueRow.select().order_by(QueueRow.name)]
        return queues, [a.id for a in AgentRow.select().order_by(AgentRow.id)]
    queues, agent_ids = store.write_sync(setup)
    if not queues:
        raise SystemExit("demo-data: no queues yet (import etc/queues.yaml first: hotline acd import)")

    def make_agent(name: str) -> int:
        def create() -> int:
            row = AgentRow.get_or_none(AgentRow.name == name) or AgentRow.create(
                name=name, display_name=f"Simulated agent {name[-3:]} (--extra-agents)", created_at=_time.time())
            return row.id
        return store.write_sync(create)
    try:
        teams = history.teams_for(args.calls, args.days, queues, agent_ids,
                                  make_agent if args.extra_agents else None)
    except history.HistoryError as exc:
        raise SystemExit(f"demo-data: {exc}") from None
    pg = isinstance(proxy.obj, peewee.PostgresqlDatabase)
    ph = "%s" if pg else "?"
    cdr_cols = ("call_uuid", "parent_uuid", "direction", "line", "caller_id", "caller_name", "dialed",
                "offered_at", "answered_at", "bridged_at", "ended_at", "duration", "talk_seconds", "disposition",
                "cause", "peer", "recording")

    # Calls a crash left open are closed first; the history's own calls all end, so afterwards the start-up
    # check need not look at them (the watermark moves past them).
    from ..calls import cdr
    store.write_sync(cdr.close_interrupted)
    # Fold the journal as the history goes in (the same Aggregator, the same order, the cursor kept in step),
    # so the summaries are ready without reading 10+ million events back.
    while store.write_sync(summary.fold_batch, 0, 200000):
        pass
    agg_box: list = []

    def write(events: list, cdrs: list) -> None:
        def insert() -> None:
            from ..stats.aggregate import Aggregator
            last, agg, trunks = summary.load_cursor()
            if not agg_box:
                agg_box.append(agg or Aggregator(trunks=counts_trunks[0]))
            agg_ = agg_box[0]
            cur = proxy.obj.cursor()
            cur.executemany(f"INSERT INTO events (ts, kind, call_uuid, line, data) VALUES ({ph}, {ph}, {ph}, {ph}, "
                            f"{ph})", events)
            cur.executemany(f"INSERT INTO cdrs ({', '.join(cdr_cols)}) VALUES ({', '.join([ph] * len(cdr_cols))})",
                            [tuple(r[c] for c in cdr_cols) for r in cdrs])
            for ts, kind, call, line, data in events:
                agg_.apply({"ts": ts, "kind": kind, "call_uuid": call, "line": line, "data": _json.loads(data)})
            summary.write_deltas(agg_)
            top = proxy.obj.execute_sql("SELECT MAX(id) FROM events").fetchone()[0]
            summary.save_cursor(top, agg_)
        store.write_sync(insert)
    counts_trunks = [history.trunks_for(args.calls, args.days)]
    counts = history.generate(args.calls, args.days, teams, write, seed=args.seed, trunks=counts_trunks[0],
                              flows_dir=cfg.etc_path("flows", "flows"), progress=print,
                              tz=store.write_sync(localtime.box_timezone, cfg["locale"]["timezone"]))
    store.write_sync(cdr.mark_checked)
    made = _time.monotonic() - started
    print(f"call history: {counts['calls']} calls over {args.days} days ({counts['answered']} answered, "
          f"{counts['abandoned']} abandoned, {counts['refused']} refused, {counts['contained']} finished in the "
          f"IVR), {counts['events']} journal events, {counts['trunks']} trunks, {len(teams)} queues with "
          f"{sum(len(t.agents) for t in teams)} agents; generated with the summaries in {made:.1f} s")


def describe_samples() -> str:
    """The anchor values as text for a person trying the demo."""
    s, o = SAMPLES, SAMPLES["orders"]
    return "\n".join([
        "try these:",
        f"  printer line 8001: caller {s['printer_caller']} ({s['printer_caller_name']}), serial "
        f"{s['serial_in_warranty']} (in warranty) or {s['serial_expired']} (expired), card {s['card_no']}, "
        f"model/FAQ {s['faq_code']}, dealer area code {s['dealer_area_code']} "
        f"({s['dealer_fallback_area_code']}: nearest in the province)",
        f"  water line 8002: caller {s['water_caller']} ({s['water_caller_name']}), account {s['water_account']}, "
        f"last bill {money(s['water_last_bill_cents'])}, balance {money(s['water_balance_cents'])}",
        f"  sales desk 8003: member {s['member_no']} PIN {s['member_pin']} (every demo member's PIN is the "
        f"last 4 digits of the member number), caller {s['member_caller']}, orders "
        + ", ".join(f"{v} {k}" for k, v in o.items())])
