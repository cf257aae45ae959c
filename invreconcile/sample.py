"""Synthetic sample data with ground truth: a small pharmacy chain, its purchase/sale/stock
records in the input formats of ``docs/formats.md``, its insurance settlements, and
injected fraud incidents plus legitimate look-alikes (see ``docs/sample-data.md``).

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     s = generate(d, stores=3, days=10, customers=60, items=40, clean_stores=1)
...     s["rows"]["catalog"], "settlement" in s["rows"]
(40, True)

Everything is drawn from one ``random.Random(seed)``: the same parameters give the same bytes.
Rows are streamed to the files day by day; memory follows the stock on hand.
"""
from __future__ import annotations

import bisect
import heapq
import csv
import datetime as dt
import itertools
import json
import math
import random
import re
import zipfile
from collections import deque
from pathlib import Path

from .records import EXCEL_CELL_MAX

PLACEHOLDER = "9" * 20
FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)

# name, spec template ({n} = units per box), min unit, convrat choices, ATC-like class
# (None = Chinese patent medicine), rx, chronic, unit price range in fen, split-pack allowed
DRUGS = [
    ("阿莫西林胶囊", "0.25g*{n}粒", "粒", (24, 36), "J01CA", 1, 0, (25, 60), 1),
    ("头孢克肟分散片", "0.1g*{n}片", "片", (6, 12), "J01DD", 1, 0, (180, 400), 1),
    ("头孢呋辛酯片", "0.25g*{n}片", "片", (12,), "J01DC", 1, 0, (150, 300), 1),
    ("阿奇霉素片", "0.25g*{n}片", "片", (6, 12), "J01FA", 1, 0, (200, 450), 1),
    ("左氧氟沙星片", "0.5g*{n}片", "片", (6, 10), "J01MA", 1, 0, (150, 350), 1),
    ("甲硝唑片", "0.2g*{n}片", "片", (24, 48), "P01AB", 1, 0, (10, 30), 1),
    ("布洛芬缓释胶囊", "0.3g*{n}粒", "粒", (20, 24), "M01AE", 0, 0, (40, 90), 0),
    ("双氯芬酸钠缓释片", "75mg*{n}片", "片", (10, 20), "M01AB", 0, 0, (60, 150), 0),
    ("对乙酰氨基酚片", "0.5g*{n}片", "片", (20, 24), "N02BE", 0, 0, (10, 40), 0),
    ("复方氨酚烷胺胶囊", "复方*{n}粒", "粒", (10, 12), "N02BE", 0, 0, (60, 120), 0),
    ("氯雷他定片", "10mg*{n}片", "片", (6, 12), "R06AX", 0, 0, (150, 320), 0),
    ("西替利嗪片", "10mg*{n}片", "片", (12, 24), "R06AE", 0, 0, (80, 200), 0),
    ("孟鲁司特钠片", "10mg*{n}片", "片", (6, 10), "R03DC", 1, 0, (250, 450), 0),
    ("奥美拉唑肠溶胶囊", "20mg*{n}粒", "粒", (14, 28), "A02BC", 0, 0, (40, 120), 1),
    ("多潘立酮片", "10mg*{n}片", "片", (30, 42), "A03FA", 0, 0, (30, 60), 0),
    ("蒙脱石散", "3g*{n}袋", "袋", (10, 12), "A07BC", 0, 0, (90, 180), 1),
    ("苯磺酸氨氯地平片", "5mg*{n}片", "片", (7, 14, 28), "C08CA", 1, 1, (40, 160), 0),
    ("硝苯地平控释片", "30mg*{n}片", "片", (7, 12), "C08CA", 1, 1, (150, 350), 0),
    ("二甲双胍缓释片", "0.5g*{n}片", "片", (30, 36), "A10BA", 1, 1, (25, 60), 0),
    ("盐酸二甲双胍片", "0.25g*{n}片", "片", (48,), "A10BA", 1, 1, (8, 20), 0),
    ("阿卡波糖片", "50mg*{n}片", "片", (30,), "A10BF", 1, 1, (120, 250), 0),
    ("格列美脲片", "2mg*{n}片", "片", (15, 30), "A10BB", 1, 1, (60, 150), 0),
    ("阿托伐他汀钙片", "20mg*{n}片", "片", (7, 14), "C10AA", 1, 1, (150, 450), 0),
    ("瑞舒伐他汀钙片", "10mg*{n}片", "片", (7, 28), "C10AA", 1, 1, (100, 350), 0),
    ("厄贝沙坦片", "0.15g*{n}片", "片", (7, 12), "C09CA", 1, 1, (100, 250), 0),
    ("缬沙坦胶囊", "80mg*{n}粒", "粒", (7, 28), "C09CA", 1, 1, (80, 250), 0),
    ("氯沙坦钾片", "50mg*{n}片", "片", (7, 14), "C09CA", 1, 1, (150, 300), 0),
    ("美托洛尔缓释片", "47.5mg*{n}片", "片", (7, 28), "C07AB", 1, 1, (150, 300), 0),
    ("达格列净片", "10mg*{n}片", "片", (14, 28), "A10BK", 1, 1, (350, 600), 0),
    ("利伐沙班片", "10mg*{n}片", "片", (7, 14), "B01AF", 1, 1, (500, 1200), 0),
    ("连花清瘟胶囊", "0.35g*{n}粒", "粒", (24, 36), None, 0, 0, (50, 90), 0),
    ("感冒灵颗粒", "10g*{n}袋", "袋", (9, 12), None, 0, 0, (120, 250), 1),
    ("板蓝根颗粒", "10g*{n}袋", "袋", (20,), None, 0, 0, (40, 90), 1),
    ("藿香正气水", "10ml*{n}支", "支", (10, 12), None, 0, 0, (90, 180), 1),
    ("银翘解毒片", "0.5g*{n}片", "片", (24, 36), None, 0, 0, (20, 50), 0),
    ("六味地黄胶囊", "0.3g*{n}粒", "粒", (24, 36), None, 0, 1, (60, 120), 0),
    ("复方丹参片", "0.32g*{n}片", "片", (36, 48), None, 0, 1, (20, 50), 0),
    ("桂枝茯苓胶囊", "0.31g*{n}粒", "粒", (24, 48), None, 1, 0, (80, 160), 0),
    ("金水宝胶囊", "0.33g*{n}粒", "粒", (36, 48), None, 0, 1, (150, 260), 0),
    ("安宫牛黄丸", "3g*{n}丸", "丸", (6,), None, 1, 0, (5000, 9000), 0),
]
MAKERS = ["石药集团", "华北制药", "扬子江药业", "齐鲁制药", "以岭药业", "白云山", "修正药业", "哈药集团",
          "仁和药业", "京新药业", "海正药业", "华润三九", "恒瑞医药", "科伦药业"]
# name, category, unit, price range in yuan
GOODS = [
    ("洗发水", "daily", "瓶", (39, 69)), ("面膜", "cosmetic", "盒", (59, 129)), ("蛋白粉", "food", "罐", (168, 298)),
    ("电子血压计", "device", "台", (199, 399)), ("五常大米5kg", "food", "袋", (59, 89)), ("护手霜", "cosmetic", "支", (19, 45)),
    ("维生素C泡腾片", "food", "盒", (29, 59)), ("医用口罩", "device", "盒", (15, 30)), ("电子体温计", "device", "支", (25, 49)),
    ("牙膏", "daily", "支", (12, 29)), ("沐浴露", "daily", "瓶", (35, 59)), ("蜂蜜", "food", "瓶", (49, 99)),
    ("燕麦片", "food", "袋", (25, 45)), ("血糖试纸", "device", "盒", (89, 169)), ("洗衣液", "daily", "瓶", (29, 49)),
    ("保温杯", "daily", "个", (69, 139)), ("阿胶糕", "food", "盒", (128, 238)), ("精华液", "cosmetic", "瓶", (159, 299)),
    ("防晒霜", "cosmetic", "支", (69, 139)), ("花生油", "food", "桶", (79, 119)), ("钙片(保健食品)", "food", "瓶", (88, 168)),
    ("鱼油软胶囊", "food", "瓶", (98, 198)), ("足浴盐", "daily", "袋", (19, 35)), ("湿巾", "daily", "包", (6, 15)),
]
BRANDS = ["汤臣倍健", "海飞丝", "百雀羚", "欧姆龙", "鱼跃", "云南白药", "舒肤佳", "北大荒", "同仁堂", "金龙鱼", "自然堂", "立白"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国文辉鹏飞志宏海燕春雪晓东佳怡子涵浩然欣宇婷"
STORE_NAMES = ["西湖大药房(文三路店)", "西湖大药房(古荡店)", "西湖大药房(翠苑店)", "西湖大药房(三墩店)", "西湖大药房(蒋村店)",
               "西湖大药房(转塘店)", "西湖大药房(留下店)", "西湖大药房(紫金港店)"]
SUPPLIERS = ["浙江英特药业有限责任公司", "华东医药股份有限公司", "国药控股浙江有限公司", "九州通医药集团浙江有限公司"]
PHARMACISTS = ["陈药师", "王药师", "李药师", "周药师"]
HOUR_W = {8: 10, 9: 12, 10: 11, 11: 9, 12: 6, 13: 6, 14: 7, 15: 8, 16: 9, 17: 10, 18: 10, 19: 8, 20: 5, 21: 3}
NIGHT_W = {22: 2, 23: 1.2, 0: 0.8, 1: 0.5, 2: 0.4, 3: 0.3, 4: 0.3, 5: 0.5, 6: 1, 7: 3}
INFNOS = ("3501", "3502", "3503", "3504", "3505", "3506", "3507", "2101", "2102", "2103")

#: (pattern, how many per default run (4 fraud stores, 61 days); scaled with fraud stores x days)
PATTERNS = ["phantom_sale", "settlement_without_sale", "negative_stock", "substitution", "code_product_mismatch",
            "resold_code", "resold_code_cross_store", "unknown_code", "fewer_codes", "product_barcode",
            "expired_sale", "price_markup", "name_mismatch", "frequent_swipes", "monthly_amount",
            "large_settlement", "night_swipe", "multi_store", "split_settlement", "swipe_refund_cycle",
            "excess_supply", "card_collection", "identical_baskets", "store_outlier"]


def ean13(body12: str) -> str:
    s = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body12))
    return body12 + str((10 - s % 10) % 10)


def _certno(rng: random.Random, birth: dt.date) -> str:
    body = "330106" + birth.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * k for c, k in zip(body, w)) % 11]


def _yuan(fen: int) -> float:
    return round(fen / 100, 2)


def _cells(q: int, shown: list) -> list[tuple[int, str]]:
    """A purchase row's quantity and code cell, split into rows whose cell fits in one Excel
    cell (a longer text is cut there); each row's quantity in proportion to its codes.

    >>> [(n, len(c)) for n, c in _cells(4000, ["8" * 20] * 2000)]
    [(3120, 32759), (880, 9239)]
    """
    if not shown:
        return [(q, "")]
    per = (EXCEL_CELL_MAX + 1) // (len(shown[0]) + 1)
    return [(q * len(part) // len(shown), ",".join(part))
            for part in (shown[i:i + per] for i in range(0, len(shown), per))]


def _cn_spec(spec: str) -> str:
    return spec.replace("mg", "毫克").replace("ml", "毫升").replace("g", "克").replace("*", "×")


class Item:
    __slots__ = ("idx", "id", "name", "spec", "covered", "mlc", "category", "pack_unit", "min_unit", "convrat",
                 "rx", "chronic", "unit_fen", "box_fen", "cost_fen", "prefix", "case_prefix", "case_size",
                 "ean", "split", "maker", "serial", "case_serial", "aprvno")

    @property
    def till_name(self):
        return f"{self.name} {self.spec}" if self.covered else self.name

    @property
    def ins_variant(self):
        return f"{self.name}({_cn_spec(self.spec)}/{self.pack_unit})"


class Person:
    __slots__ = ("psn_no", "name", "certno", "insutype", "bal", "home", "chronic", "refill_dom", "last_day",
                 "month", "spend", "fund_share")


class Store:
    def __init__(self, idx, code, name, clean, fmt, h24, scan_log, placeholder, variant):
        self.idx, self.code, self.name, self.clean = idx, code, name, clean
        self.fmt, self.h24, self.scan_log, self.placeholder, self.variant = fmt, h24, scan_log, placeholder, variant
        self.boxes: dict[int, deque] = {}
        self.open: dict[int, list] = {}
        self.held: dict[int, list] = {}
        self.nc: dict[int, int] = {}
        self.unstocked: set = set()
        self.recent_sold: deque = deque(maxlen=300)
        self.sched: dict[int, list] = {}
        self.customers: list = []
        self.chronic_by_dom: dict[int, list] = {}
        self.seq = 0
        self.doc = 0
        self.bch = 0
        self.lam_ins = self.lam_cash = 0.0
        self.rop: list = []
        self.oq: list = []
        self.outlier_months: dict = {}


class _Gen:
    def __init__(self, out_dir, stores, days, start, customers, items, seed, clean_stores, fraud):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(seed)
        self.params = dict(stores=stores, days=days, start=str(start), customers=customers, items=items, seed=seed,
                           clean_stores=clean_stores, fraud=fraud)
        self.days = days
        self.start = dt.date.fromisoformat(str(start))
        self.dates = [self.start + dt.timedelta(d) for d in range(days + 1)]
        self.dstr = [d.isoformat() for d in self.dates]
        self.fraud = fraud
        self.files: dict[str, list] = {}   # name -> [handle, writer, rows, kind]
        self.rows: dict[str, int] = {}
        self.incidents: list = []
        self.lookalikes: list = []
        self.look_count: dict = {}
        self.evseq = itertools.count()
        self._cur = None
        self._day = 0
        self.setl_seq = 0
        self.person_seq = 0
        self.serial_space = 0
        self._make_catalog(items)
        self._make_stores(stores, clean_stores)
        self._make_people(customers)
        self._plan_demand()

    # ------------------------------------------------------------------ files
    def _open(self, name, kind, header=None, encoding="utf-8"):
        f = self.files.get(name)
        if f:
            return f
        if name.endswith(".xlsx"):
            from openpyxl import Workbook
            wb = Workbook(write_only=True)
            ws = wb.create_sheet("Sheet1")
            ws.append(header)
            f = [wb, ws, 0, kind]
        else:
            h = open(self.out / name, "w", encoding=encoding, newline="")
            w = csv.writer(h, lineterminator="\r\n") if header is not None else None
            if w:
                w.writerow(header)
            f = [h, w, 0, kind]
        self.files[name] = f
        return f

    def _count(self, f, n=1):
        f[2] += n
        self.rows[f[3]] = self.rows.get(f[3], 0) + n

    def msg(self, name, kind, obj, dup_ok=True):
        f = self._open(name, kind)
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
        f[0].write(line)
        self._count(f)
        if dup_ok and self.rng.random() < 0.004:       # technical re-upload
            f[0].write(line)
            self._count(f)
            inp = obj.get("input", {})
            rec = next((v for v in inp.values() if isinstance(v, (dict, list))), {})
            rec = rec[0] if isinstance(rec, list) and rec else rec
            sid = rec.get("setl_id") if isinstance(rec, dict) else None
            self.look("reupload", obj.get("fixmedins_code", ""), setl_ids=[sid] if sid else [],
                      description=f"message {obj['infno']} uploaded twice in {name}")

    def row(self, name, kind, header, values, encoding="utf-8"):
        f = self._open(name, kind, header, encoding)
        if name.endswith(".xlsx"):
            f[1].append(values)
        else:
            f[1].writerow(values)
        self._count(f)

    def look(self, kind, store, setl_ids=(), codes=(), psn_nos=(), items=(), description="", cap=6):
        key = (kind, store)
        n = self.look_count.get(key, 0)
        self.look_count[key] = n + 1
        if n < cap:
            self.lookalikes.append(dict(kind=kind, store=store, setl_ids=list(setl_ids), codes=list(codes),
                                        psn_nos=list(psn_nos), items=list(items), description=description))

    def close(self):
        out = {}
        for name, f in self.files.items():
            if name.endswith(".xlsx"):
                import datetime as _d
                f[0].properties.created = f[0].properties.modified = _d.datetime(2026, 1, 1)
                path = self.out / name
                f[0].save(path)
                _fix_zip(path)
            else:
                f[0].close()
            out[name] = f[2]
        return out

    # ---------------------------------------------------------------- catalog
    def _make_catalog(self, n_items):
        rng = self.rng
        n_cov = max(1, round(n_items * 0.8))
        self.items: list[Item] = []
        used_pref = set()

        def prefix():
            while True:
                p = "8" + f"{rng.randrange(10**6):06d}"
                if p not in used_pref:
                    used_pref.add(p)
                    return p
        for k in range(n_items):
            it = Item()
            it.idx = k
            it.id = f"YP{100001 + k}" if k < n_cov else f"SP{200001 + k}"
            it.covered = k < n_cov
            it.maker = rng.choice(MAKERS)
            if it.covered:
                base = DRUGS[k % len(DRUGS)]
                name, spec_t, mu, convs, atc, rx, chronic, (plo, phi), split = base
                it.convrat = rng.choice(convs)
                it.name, it.spec, it.min_unit, it.pack_unit = name, spec_t.format(n=it.convrat), mu, "盒"
                it.rx, it.chronic, it.split, it.category = rx, chronic, split, "drug"
                it.unit_fen = rng.randint(plo, phi)
                cls = atc or rng.choice(["A01AA", "B02BC", "C04AD", "D03BA"])
                drug_no = (k % len(DRUGS)) * 7 + 101
                it.mlc = (("X" if atc else "Z") + cls + f"A{drug_no:03d}" + f"A{MAKERS.index(it.maker) + 1:03d}"
                          + f"{rng.randrange(10**9):09d}")
                it.prefix, it.case_prefix = prefix(), prefix()
                it.case_size = rng.choice([10, 20, 20, 40])
                it.aprvno = ("国药准字H" if atc else "国药准字Z") + f"{rng.randrange(10**8):08d}"
            else:
                g = GOODS[(k - n_cov) % len(GOODS)]
                it.name = rng.choice(BRANDS) + g[0]
                it.spec, it.min_unit, it.pack_unit, it.convrat = "1" + g[2], g[2], g[2], 1
                it.category, it.rx, it.chronic, it.split = g[1], 0, 0, 0
                it.unit_fen = rng.randint(g[3][0], g[3][1]) * 100 + rng.choice([0, 0, 50, 90])
                it.mlc = it.prefix = it.case_prefix = ""
                it.case_size = 0
                it.aprvno = ""
            it.box_fen = it.unit_fen * it.convrat
            it.cost_fen = int(it.box_fen * rng.uniform(0.70, 0.84))
            it.ean = ean13("69" + f"{rng.randrange(10**10):010d}")
            it.serial = rng.randrange(10**11, 4 * 10**12)
            it.case_serial = rng.randrange(10**11, 4 * 10**12)
            self.items.append(it)
        self.covered = [it for it in self.items if it.covered]
        self.goods = [it for it in self.items if not it.covered]
        self.chronic_items = [it for it in self.covered if it.chronic and it.unit_fen < 400] or self.covered
        w = [1 / (r + 3) ** 0.9 for r in range(len(self.covered))]
        rng.shuffle(w)
        for it, wi in zip(self.covered, w):
            if it.unit_fen >= 2000:
                w[self.covered.index(it)] = wi * 0.1
        self.cov_w = w
        self.cov_cum = list(itertools.accumulate(w))
        gw = [1 / (r + 2) for r in range(len(self.goods))]
        self.goods_cum = list(itertools.accumulate(gw)) if gw else []
        hdr = ["fixmedins_hilist_id", "fixmedins_hilist_name", "med_list_codg", "spec", "pack_unit", "min_unit",
               "convrat", "category", "rx_flag", "drug_prod_barc", "trace_prefix", "pric"]
        for it in self.items:
            self.row("catalog.csv", "catalog", hdr, [
                it.id, it.name, it.mlc, it.spec, it.pack_unit, it.min_unit, it.convrat, it.category, it.rx, it.ean,
                f"{it.prefix},{it.case_prefix}" if it.covered else "", f"{_yuan(it.box_fen):.2f}"])

    def pick_cov(self):
        return self.covered[bisect.bisect(self.cov_cum, self.rng.random() * self.cov_cum[-1])]

    def pick_goods(self):
        return self.goods[bisect.bisect(self.goods_cum, self.rng.random() * self.goods_cum[-1])]

    # ----------------------------------------------------------------- stores
    def _make_stores(self, n, n_clean):
        self.stores: list[Store] = []
        seq = 0
        n_clean = min(n_clean, n) if self.fraud else n
        for i in range(n):
            while True:
                seq += 1
                code = f"P330106{seq:04d}"
                if not any(x in code for x in INFNOS):
                    break
            clean = i >= n - n_clean
            fmt = ("jsonl", "erp", "jsonl_batch")[i % 3]
            name = STORE_NAMES[i % len(STORE_NAMES)] + ("" if i < len(STORE_NAMES) else f"{i // len(STORE_NAMES) + 1}")
            self.stores.append(Store(i, code, name, clean, fmt, False, i % 3 != 2, i % 3 == 2, i % 2 == 1))
        h24 = next((s for s in self.stores if s.clean), self.stores[-1])
        h24.h24 = True
        self.fraud_stores = [s for s in self.stores if not s.clean]

    def _new_person(self, home, chronic=None):
        rng = self.rng
        p = Person()
        self.person_seq += 1
        p.psn_no = "3301" + f"{rng.randrange(10**6):06d}" + f"{self.person_seq:010d}"
        p.name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))
        birth = dt.date(1940, 1, 1) + dt.timedelta(rng.randrange(365 * 65))
        p.certno = _certno(rng, birth)
        p.insutype = "310" if rng.random() < 0.7 else "390"
        p.bal = rng.randint(30000, 400000) if p.insutype == "310" else 0
        p.fund_share = rng.choice([0, 0, 0.5]) if p.insutype == "310" else 0.5
        p.home = home
        p.chronic = chronic
        p.refill_dom = rng.randint(1, 28)
        p.last_day = -1
        p.month = None
        p.spend = 0
        return p

    def _make_people(self, n):
        rng = self.rng
        for k in range(n):
            st = self.stores[k % len(self.stores)]
            chronic = rng.choice(self.chronic_items) if rng.random() < 0.2 else None
            p = self._new_person(st, chronic)
            st.customers.append(p)
            if chronic:
                st.chronic_by_dom.setdefault(p.refill_dom, []).append(p)

    def _plan_demand(self):
        for st in self.stores:
            nh = len(st.customers)
            st.lam_ins = nh * 2.0 / 30
            st.lam_cash = nh * 1.6 / 30
            lines = (st.lam_ins + 0.45 * st.lam_cash) * 1.6
            tot = self.cov_cum[-1]
            st.rop, st.oq = [0] * len(self.items), [0] * len(self.items)
            chronic_d = {}
            for p in st.customers:
                if p.chronic:
                    chronic_d[p.chronic.idx] = chronic_d.get(p.chronic.idx, 0) + 1.5 / 30
            for it, w in zip(self.covered, self.cov_w):
                d = lines * w / tot * 1.4 * 1.6 + chronic_d.get(it.idx, 0)    # 1.6: head-room for outlier months
                st.rop[it.idx] = math.ceil(d * 5) + 1
                st.oq[it.idx] = max(2, math.ceil(d * 10))
            gl = st.lam_cash * 1.6 * 0.45
            gt = self.goods_cum[-1] if self.goods_cum else 1
            for k, it in enumerate(self.goods):
                d = gl * (1 / (k + 2)) / gt * 1.3
                st.rop[it.idx] = math.ceil(d * 5) + 2
                st.oq[it.idx] = max(3, math.ceil(d * 10))

    # ------------------------------------------------------------ primitives
    def tstr(self, day, sec):
        day += sec // 86400
        sec %= 86400
        return f"{self.dstr[day]} {sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"

    def new_setl_id(self, st, day):
        self.setl_seq += 1
        return f"{self.dates[day]:%Y%m%d}{st.idx + 1:04d}{self.setl_seq:08d}"

    def new_doc(self, st, day):
        st.doc += 1
        return f"LS{st.code[-4:]}{self.dates[day]:%Y%m%d}{st.doc:06d}"

    def new_codes(self, it, n):
        out = []
        for _ in range(n):
            it.serial += self.rng.randint(1, 9)
            out.append(f"{it.prefix}{it.serial:013d}")
        return out

    def fake_code(self, it):
        return f"{it.prefix}{self.rng.randrange(9 * 10**12, 10**13):013d}"

    def receive(self, st, day, sec, orders, pool=None, expy=None, supplier=None):
        """Purchase order: orders = [(item, boxes or units)]. Returns {item idx: [boxes]}."""
        rng = self.rng
        st.bch += 1
        dynt = f"SX{self.dates[day]:%Y%m%d}{st.idx + 1:03d}{st.bch:05d}"
        spler = supplier or SUPPLIERS[st.bch % len(SUPPLIERS)]
        recs, got = [], {}
        t = self.tstr(day, sec)
        by_case_store = st.idx % 2 == 0
        for it, q in orders:
            st.bch += 1
            bchno = f"B{st.code[-4:]}{st.bch:07d}"
            manu = self.dates[day] - dt.timedelta(rng.randint(30, 300))
            exp = expy or (manu + dt.timedelta(days=rng.choice([540, 730, 730, 1095]) - 1))
            lot = f"{manu:%y%m}{rng.randrange(1000):03d}"
            cost = int(it.cost_fen * rng.uniform(0.97, 1.03))
            codes, shown = [], []
            if it.covered:
                if by_case_store and pool is None and q >= it.case_size and rng.random() < 0.6:
                    q -= q % it.case_size
                    for _ in range(q // it.case_size):
                        it.case_serial += rng.randint(1, 9)
                        case = f"{it.case_prefix}{it.case_serial:013d}"
                        bx = self.new_codes(it, it.case_size)
                        self.row("code_relations.csv", "code_relation", ["code", "parent_code", "code_level", "box_amount"],
                                 [case, "", 3, it.case_size])
                        for c in bx:
                            self.row("code_relations.csv", "code_relation", None, [c, case, 1, 1])
                        codes += bx
                        shown.append(case)
                    self.look("case_receiving", st.code, codes=shown[:3], items=[it.id],
                              description="received by case code; boxes resolved through code_relations.csv")
                else:
                    codes = self.new_codes(it, q)
                    shown = codes
                boxes = [(c, lot, manu.isoformat(), exp.isoformat(), bchno) for c in codes]
                if pool is not None:
                    pool.setdefault(it.idx, []).extend(boxes)
                else:
                    st.boxes.setdefault(it.idx, deque()).extend(boxes)
                got[it.idx] = boxes
            else:
                st.nc[it.idx] = st.nc.get(it.idx, 0) + q
            recs.append((it, q, cost, lot, manu, exp, bchno, shown))
        if st.fmt == "erp":
            hdr = ["门店编码", "入库时间", "商品编码", "商品名称", "医保编码", "规格", "生产厂家", "批号", "生产日期", "有效期",
                   "采购数量", "单位", "进价", "金额", "供应商", "追溯码"]
            for it, q, cost, lot, manu, exp, bchno, shown in recs:
                for part, cell in _cells(q, shown):
                    self.row(f"{st.code}_purchase.xlsx", "purchase", hdr, [
                        st.code, t, it.id, it.name, it.mlc, it.spec, it.maker, lot, manu.isoformat(), exp.isoformat(),
                        part, it.pack_unit, _yuan(cost), _yuan(cost * part), spler, cell])
        else:
            out = []
            for it, q, cost, lot, manu, exp, bchno, shown in recs:
                r = {"med_list_codg": it.mlc, "fixmedins_hilist_id": it.id, "fixmedins_hilist_name": it.name,
                     "dynt_no": dynt, "fixmedins_bchno": bchno, "spler_name": spler, "spler_pmtno": "",
                     "manu_lotnum": lot, "prodentp_name": it.maker, "aprvno": it.aprvno, "manu_date": manu.isoformat(),
                     "expy_end": exp.isoformat(), "finl_trns_pric": round(cost / it.convrat / 100, 4),
                     "purc_retn_cnt": q * it.convrat, "purc_invo_codg": "", "purc_invo_no": f"{rng.randrange(10**8):08d}",
                     "rx_flag": str(it.rx), "purc_retn_stoin_time": t, "purc_retn_opter_name": "验收员",
                     "prod_geay_flag": "0", "memo": ""}
                if shown:
                    r["drugtracinfo"] = [{"drug_trac_codg": c} for c in shown]
                out.append(r)
            name = f"{st.code}_purchase.jsonl"
            if st.fmt == "jsonl_batch":
                self.msg(name, "purchase", {"infno": "3503A", "fixmedins_code": st.code, "input": {"purcinfo": out}})
            else:
                for r in out:
                    self.msg(name, "purchase", {"infno": "3503", "fixmedins_code": st.code, "input": {"purcinfo": r}})
        return got

    def take(self, st, it, n):
        dq = st.boxes.get(it.idx)
        if not dq or len(dq) < n:
            return None
        return [dq.popleft() for _ in range(n)]

    def take_units(self, st, it, u):
        """Split-pack: units from the opened box. Returns (box, units) or None."""
        o = st.open.get(it.idx)
        if not o:
            bx = self.take(st, it, 1)
            if not bx:
                return None
            o = st.open[it.idx] = [bx[0], it.convrat, []]
        u = min(u, o[1])
        o[1] -= u
        box = o[0]
        if o[1] == 0:
            del st.open[it.idx]
        return box, u, o

    def line(self, it, boxes=None, units=None, split=False, codes=None, unit_fen=None, box=None):
        """A sale/settlement line: units in minimum units."""
        if units is None:
            units = len(boxes) * it.convrat
        if codes is None:
            codes = [b[0] for b in boxes] if boxes else []
        b0 = box or (boxes[0] if boxes else None)
        return {"it": it, "units": units, "codes": codes, "trdn": 1 if split else 0,
                "unit_fen": unit_fen if unit_fen is not None else it.unit_fen,
                "lot": b0[1] if b0 else "", "manu": b0[2] if b0 else "", "expy": b0[3] if b0 else "",
                "bchno": b0[4] if b0 else "", "boxes": boxes or [], "sale_it": it, "ins_name": None}

    def basket(self, st, insured, n_lines=None, chronic=None, big=False):
        rng = self.rng
        n = n_lines or rng.choices([1, 2, 3, 4], [50, 30, 15, 5])[0]
        lines, seen = [], set()
        want = []
        if chronic:
            want.append((chronic, rng.choice([1, 1, 2, 3])))
        for _ in range(n * 2):
            if len(want) >= n + (1 if chronic else 0):
                break
            if not insured and self.goods and rng.random() < 0.45:
                it = self.pick_goods()
            else:
                it = self.pick_cov()
            if it.idx in seen or it.idx in st.unstocked:
                continue
            seen.add(it.idx)
            want.append((it, rng.choices([1, 2, 3], [78, 18, 4])[0]))
        for it, q in want:
            if not it.covered:
                if st.nc.get(it.idx, 0) >= q:
                    st.nc[it.idx] -= q
                    lines.append(self.line(it, units=q))
                continue
            if it.split and rng.random() < 0.18 and it.convrat >= 6:
                got = self.take_units(st, it, rng.choice([2, 3, 4, 6]) * max(1, it.convrat // 12))
                if got:
                    box, u, o = got
                    code = PLACEHOLDER if st.placeholder else box[0]
                    ln = self.line(it, units=u, split=True, codes=[code], box=box)
                    ln["open"] = o
                    lines.append(ln)
                continue
            bx = self.take(st, it, q)
            if bx:
                lines.append(self.line(it, boxes=bx))
        return lines

    def record_sale(self, st, day, sec, lines, person=None, setl_id="", doc=None):
        doc = doc or self.new_doc(st, day)
        t = self.tstr(day, sec)
        if st.fmt == "erp":
            hdr = ["门店编码", "零售单号", "销售时间", "商品编码", "商品名称", "医保编码", "规格", "批号", "有效期", "数量", "单位",
                   "单价", "金额", "追溯码", "拆零标志", "结算ID", "人员编号", "姓名"]
            for ln in lines:
                it = ln["sale_it"]
                unit_fen = ln.get("sale_unit_fen", ln["unit_fen"])
                self.row(f"{st.code}_sale.csv", "sale", hdr, [
                    st.code, doc, t, it.id, it.till_name, it.mlc, it.spec, ln["lot"], ln["expy"], ln["units"],
                    it.min_unit, f"{unit_fen / 100:.2f}", f"{unit_fen * ln['units'] / 100:.2f}",
                    ",".join(ln["codes"]), ln["trdn"], setl_id, person.psn_no if person else "",
                    person.name if person else ""], encoding="gb18030")
            return doc
        recs = [self.sale_rec(st, t, ln, person, setl_id, doc) for ln in lines]
        name = f"{st.code}_sale.jsonl"
        if st.fmt == "jsonl_batch":
            self.msg(name, "sale", {"infno": "3505A", "fixmedins_code": st.code, "input": {"selinfo": recs}})
        else:
            for r in recs:
                self.msg(name, "sale", {"infno": "3505", "fixmedins_code": st.code, "input": {"selinfo": r}})
        return doc

    def sale_rec(self, st, t, ln, person, setl_id, doc, ret=False):
        it = ln["sale_it"]
        unit_fen = ln.get("sale_unit_fen", ln["unit_fen"])
        r = {"med_list_codg": it.mlc, "fixmedins_hilist_id": it.id, "fixmedins_hilist_name": it.till_name,
             "fixmedins_bchno": ln["bchno"], "prsc_dr_name": "", "phar_name": PHARMACISTS[st.idx % 4],
             "phar_prac_cert_no": f"33{st.idx + 1:04d}0{st.idx % 4}", "hi_feesetl_type": "1" if setl_id else "2",
             "setl_id": setl_id, "mdtrt_sn": doc, "psn_no": person.psn_no if person else "",
             "psn_cert_type": "01" if person else "", "certno": person.certno if person else "",
             "psn_name": person.name if person else "", "manu_lotnum": ln["lot"], "manu_date": ln["manu"],
             "expy_end": ln["expy"], "rx_flag": str(it.rx), "trdn_flag": str(ln["trdn"]),
             "finl_trns_pric": round(unit_fen / 100, 4), "rxno": "", "rtal_docno": doc, "stoout_no": "CK" + doc[2:],
             "bchno": "", "drug_prod_barc": it.ean, "shelf_posi": f"{chr(65 + it.idx % 8)}{it.idx % 20 + 1:02d}",
             "sel_retn_cnt": ln["units"], "sel_retn_time": t, "sel_retn_opter_name": "收银员", "memo": ""}
        if ret:
            r["medins_prod_sel_no"] = doc
        if ln["codes"]:
            if st.fmt == "jsonl":
                r["drugtracinfo"] = [{"drug_trac_codg": c} for c in ln["codes"]]
            else:
                r["drug_trac_codg"] = ",".join(ln["codes"])
        return r

    def settle(self, st, day, sec, person, lines, setl_id=None):
        setl_id = setl_id or self.new_setl_id(st, day)
        t = self.tstr(day, sec)
        total = sum(ln["unit_fen"] * ln["units"] for ln in lines)
        fund = int(round(total * person.fund_share))
        part = total - fund
        acct = min(part, person.bal)
        person.bal -= acct
        cash = part - acct
        det = []
        for k, ln in enumerate(lines):
            it = ln["it"]
            name = ln["ins_name"] or (it.ins_variant if st.variant else it.name)
            d = {"feedetl_sn": f"{setl_id}{k + 1:03d}", "rxno": "", "fee_ocur_time": t, "med_list_codg": it.mlc,
                 "medins_list_codg": it.id, "medins_list_name": name, "cnt": ln["units"],
                 "pric": round(ln["unit_fen"] / 100, 4), "det_item_fee_sumamt": _yuan(ln["unit_fen"] * ln["units"])}
            if ln["codes"]:
                if st.fmt == "jsonl":
                    d["drugtracinfo"] = [{"drug_trac_codg": c} for c in ln["codes"]]
                else:
                    d["drug_trac_codg"] = ",".join(ln["codes"])
            det.append(d)
        s = {"setl_id": setl_id, "mdtrt_id": "MD" + setl_id, "psn_no": person.psn_no, "psn_name": person.name,
             "psn_cert_type": "01", "certno": person.certno, "insutype": person.insutype, "setl_time": t,
             "medfee_sumamt": _yuan(total), "fulamt_ownpay_amt": 0.0, "overlmt_selfpay": 0.0,
             "inscp_scp_amt": _yuan(total), "hifp_pay": _yuan(fund), "fund_pay_sumamt": _yuan(fund),
             "psn_part_amt": _yuan(part), "acct_pay": _yuan(acct), "psn_cash_pay": _yuan(cash),
             "acct_mulaid_pay": 0.0, "balc": _yuan(person.bal), "refd_setl_flag": "0"}
        self.msg("settlements.jsonl", "settlement",
                 {"infno": "2102", "fixmedins_code": st.code, "input": {"setlinfo": s, "drugdetail": det}})
        m = self.dstr[day][:7]
        if person.month != m:
            person.month, person.spend = m, 0
        person.spend += total
        person.last_day = day
        return setl_id, total, (fund, acct, cash)

    def reverse(self, st, day, sec, person, setl_id, money, total):
        fund, acct, cash = money
        person.bal += acct
        person.spend -= total
        new = self.new_setl_id(st, day)
        self.msg("reversals.jsonl", "reversal", {
            "infno": "2103", "fixmedins_code": st.code,
            "input": {"data": {"setl_id": setl_id, "psn_no": person.psn_no, "omsgid": "M" + setl_id}},
            "output": {"setlinfo": {"setl_id": new, "setl_time": self.tstr(day, sec), "psn_no": person.psn_no,
                                    "medfee_sumamt": -_yuan(total), "fund_pay_sumamt": -_yuan(fund),
                                    "hifp_pay": -_yuan(fund), "psn_part_amt": -_yuan(acct + cash),
                                    "acct_pay": -_yuan(acct), "psn_cash_pay": -_yuan(cash),
                                    "balc": _yuan(person.bal), "refd_setl_flag": "1"}}})
        return new

    def sale_return(self, st, day, sec, lines, person, setl_id, doc):
        t = self.tstr(day, sec)
        for ln in lines:
            r = self.sale_rec(st, t, ln, person, setl_id, doc, ret=True)
            self.msg(f"{st.code}_sale_return.jsonl", "sale_return",
                     {"infno": "3506", "fixmedins_code": st.code, "input": {"selinfo": r}})

    def sold(self, st, day, lines):
        for ln in lines:
            if not ln["trdn"]:
                for b in ln["boxes"]:
                    st.recent_sold.append((b[0], ln["it"].idx, day))

    # --------------------------------------------------------- normal visits
    def visit(self, st, day, sec, person, lines=None, returnable=True, look=None):
        """A normal insured (person) or cash (None) sale. Returns (setl_id, lines)."""
        rng = self.rng
        if lines is None:
            lines = self.basket(st, person is not None, chronic=person.chronic if person and look == "chronic" else None)
        if not lines:
            return None, []
        setl_id, money, total = "", None, 0
        if person:
            setl_id, total, money = self.settle(st, day, sec, person, lines)
        doc = self.record_sale(st, day, sec, lines, person, setl_id)
        self.sold(st, day, lines)
        for ln in lines:
            if ln["trdn"] and ln.get("open") is not None:
                o = ln["open"]
                o[2].append(setl_id or doc)
                if o[1] == 0 and len(o[2]) >= 2:
                    self.look("split_pack_placeholder" if st.placeholder else "split_pack", st.code,
                              setl_ids=[x for x in o[2] if not x.startswith("LS")],
                              codes=[c for c in ln["codes"] if c != PLACEHOLDER],
                              items=[ln["it"].id], description="one opened box sold in parts (trdn_flag=1)")
                ln["open"] = None
        if person and st.variant:
            self.look("name_variant", st.code, setl_ids=[setl_id], items=[lines[0]["it"].id], cap=3,
                      description="insurance line name written with the spec in another form than the till name")
        if returnable and all(not ln["trdn"] for ln in lines) and rng.random() < 0.015:
            quick = rng.random() < 0.3
            delay = rng.randint(120, 500) if quick else rng.randint(3600, 86400 * 2)
            rd, rs = day + (sec + delay) // 86400, (sec + delay) % 86400
            if rd < self.days and rs < 21 * 3600:
                self.at(st, rd, rs, self.ev_return, lines, person, setl_id, money, total, doc, quick)
        return setl_id, lines

    def ev_return(self, st, day, sec, lines, person, setl_id, money, total, doc, quick):
        self.sale_return(st, day, sec, lines, person, setl_id, doc)
        new = None
        if person:
            new = self.reverse(st, day, sec, person, setl_id, money, total)
        codes = []
        if st.recent_sold:
            back = {c for ln in lines for c in ln["codes"]}
            keep = [x for x in st.recent_sold if x[0] not in back]
            st.recent_sold.clear()
            st.recent_sold.extend(keep)
        for ln in reversed(lines):
            if ln["it"].covered:
                st.boxes.setdefault(ln["it"].idx, deque()).extendleft(reversed(ln["boxes"]))
                codes += ln["codes"]
            else:
                st.nc[ln["it"].idx] = st.nc.get(ln["it"].idx, 0) + ln["units"]
        self.look("reversal_then_resale" if person else "return_then_resale", st.code,
                  setl_ids=[s for s in (setl_id, new) if s], codes=codes, psn_nos=[person.psn_no] if person else [],
                  description=("sale returned / settlement reversed" + (" within minutes (one-off)" if quick else "")
                               + "; the boxes go back on the shelf and are sold again"))

    def at(self, st, day, sec, fn, *args):
        ev = (sec, next(self.evseq), fn, args)
        if self._cur is not None and self._cur[0] is st and self._cur[1] == day:
            heapq.heappush(self._cur[2], ev)
        else:
            st.sched.setdefault(day, []).append(ev)

    def rand_sec(self, st, count_day):
        rng = self.rng
        hw = dict(HOUR_W)
        if st.h24:
            hw.update(NIGHT_W)
        if count_day:
            hw = {h: w for h, w in hw.items() if 5 <= h <= 21}
        hs = list(hw)
        h = rng.choices(hs, [hw[x] for x in hs])[0]
        return h * 3600 + rng.randrange(3600)

    # ---------------------------------------------------------------- the day
    def count_days(self):
        out = [d for d in range(self.days) if (self.dates[d + 1]).day == 1]
        if self.days - 1 not in out:
            out.append(self.days - 1)
        return out

    def run(self):
        rng = self.rng
        cdays = set(self.count_days())
        if self.fraud:
            self.plan_incidents()
        for st in self.stores:     # opening stock
            orders = []
            for it in self.items:
                if it.idx in st.unstocked:
                    continue
                q = max(st.oq[it.idx], st.rop[it.idx] + 2) + (0 if it.covered else 2)
                orders.append((it, q))
            self.receive(st, 0, 6 * 3600 + 1800, orders)
        self.plan_lookalikes()
        for day in range(self.days):
            self._day = day
            date = self.dates[day]
            month = self.dstr[day][:7]
            if len(self.stores) > 1 and rng.random() < 0.25:
                self.transfer(day)
            for st in self.stores:
                if day > 0:
                    orders = [(it, st.oq[it.idx]) for it in self.items if it.idx not in st.unstocked and (
                        (len(st.boxes.get(it.idx, ())) if it.covered else st.nc.get(it.idx, 0)) < st.rop[it.idx])]
                    if orders:
                        self.receive(st, day, 7 * 3600 + rng.randrange(1800), orders)
                wk = 1.15 if date.weekday() >= 5 else 1.0
                evs = st.sched.pop(day, [])
                for _ in range(_poisson(rng, st.lam_ins * wk)):
                    p = rng.choice(st.customers) if st.customers else None
                    if p and p.last_day != day and not (p.month == month and p.spend > 70000):
                        evs.append((self.rand_sec(st, day in cdays), next(self.evseq), self.visit, (p,)))
                for _ in range(_poisson(rng, st.lam_cash * wk)):
                    evs.append((self.rand_sec(st, day in cdays), next(self.evseq), self.visit, (None,)))
                for p in st.chronic_by_dom.get(date.day, ()):
                    if p.last_day != day:
                        evs.append((9 * 3600 + rng.randrange(10 * 3600), next(self.evseq), self.ev_chronic, (p,)))
                out = st.outlier_months.get(month)
                if out:
                    inc, pool = out
                    for _ in range(_poisson(rng, st.lam_ins * 1.6 * wk)):
                        evs.append((self.rand_sec(st, day in cdays), next(self.evseq), self.ev_outlier, (inc, pool)))
                heapq.heapify(evs)
                self._cur = (st, day, evs)
                while evs:
                    sec, _, fn, args = heapq.heappop(evs)
                    fn(st, day, sec, *args)
                self._cur = None
                if day in cdays:
                    self.stock_count(st, day)
        return self.finish()

    def ev_chronic(self, st, day, sec, p):
        sid, lines = self.visit(st, day, sec, p, look="chronic")
        if sid:
            self.look("chronic_refill", st.code, setl_ids=[sid], psn_nos=[p.psn_no], items=[p.chronic.id], cap=4,
                      description="chronic patient refilling a monthly supply")

    def ev_outlier(self, st, day, sec, inc, pool):
        p = self.rng.choice(pool)
        if p.last_day == day:
            return
        sid, _ = self.visit(st, day, sec, p, returnable=False)
        if sid:
            inc["setl_ids"].append(sid)

    def transfer(self, day):
        rng = self.rng
        a, b = rng.sample(self.stores, 2)
        for _ in range(5):
            it = self.pick_cov()
            dq = a.boxes.get(it.idx)
            if dq and len(dq) >= a.rop[it.idx] + 3 and it.idx not in b.unstocked:
                k = rng.randint(2, min(6, len(dq) - a.rop[it.idx]))
                boxes = [dq.pop() for _ in range(k)]
                b.boxes.setdefault(it.idx, deque()).extend(boxes)
                for st, typ, peer, sec in ((a, "102", b, 9 * 3600), (b, "101", a, 11 * 3600)):
                    r = {"med_list_codg": it.mlc, "fixmedins_hilist_id": it.id, "fixmedins_hilist_name": it.name,
                         "rx_flag": str(it.rx), "invdate": self.dstr[day], "fixmedins_bchno": boxes[0][4],
                         "manu_lotnum": boxes[0][1], "manu_date": boxes[0][2], "expy_end": boxes[0][3],
                         "inv_chg_type": typ, "pric": round(it.unit_fen / 100, 4), "cnt": k * it.convrat,
                         "inv_chg_time": self.tstr(day, sec + rng.randrange(1800)), "inv_chg_opter_name": "店长",
                         "trdn_flag": "0", "memo": f"调拨:{peer.code}",
                         "drugtracinfo": [{"drug_trac_codg": x[0]} for x in boxes]}
                    self.msg(f"{st.code}_stock_change.jsonl", "stock_change",
                             {"infno": "3502", "fixmedins_code": st.code, "input": {"invinfo": r}})
                self.look("transfer", b.code, codes=[x[0] for x in boxes], items=[it.id], cap=4,
                          description=f"transfer {a.code} -> {b.code} (3502 102/101); the codes are later sold at {b.code}")
                return

    def stock_count(self, st, day):
        rng = self.rng
        recs, scans = [], []
        for it in self.items:
            if it.covered:
                boxes = list(st.boxes.get(it.idx, ())) + st.held.get(it.idx, [])
                o = st.open.get(it.idx)
                units = len(boxes) * it.convrat + (o[1] if o else 0)
                if o:
                    boxes.append(o[0])
                if not boxes and it.idx not in st.unstocked:
                    continue
                scans += [b[0] for b in boxes]
                lot = boxes[-1] if boxes else ("", "", "", "", "")
            else:
                units = st.nc.get(it.idx, 0)
                lot = ("", "", "", "", "")
            if it.unit_fen * (1 if it.covered else 1) < 2000 and rng.random() < 0.03 and units > 3:
                err = rng.choice([-2, -1, 1])
                units += err
                self.look("count_error", st.code, items=[it.id], cap=5,
                          description=f"small count error ({err:+d} {it.min_unit}) on a cheap item")
            recs.append({"med_list_codg": it.mlc, "fixmedins_hilist_id": it.id, "fixmedins_hilist_name": it.name,
                         "rx_flag": str(it.rx), "invdate": self.dstr[day], "inv_cnt": units,
                         "manu_lotnum": lot[1], "fixmedins_bchno": lot[4], "manu_date": lot[2], "expy_end": lot[3],
                         "memo": "月末盘点"})
        name = f"{st.code}_stock_count.jsonl"
        if st.fmt == "jsonl_batch":
            self.msg(name, "stock_count", {"infno": "3501A", "fixmedins_code": st.code, "input": {"invinfo": recs}},
                     dup_ok=False)
        else:
            for r in recs:
                self.msg(name, "stock_count", {"infno": "3501", "fixmedins_code": st.code, "input": {"invinfo": r}},
                         dup_ok=False)
        if st.scan_log:
            sess = f"PD{self.dates[day]:%Y%m%d}{st.idx + 1:02d}"
            hdr = ["fixmedins_code", "station_id", "mode", "scan_time", "raw", "doc_no", "session_id"]
            # from 22:00 for an hour and a half: whole seconds apart, several a second for a store
            # with more than 5,400 boxes (they ran into the next day, past the data's last day)
            sec, n = 22 * 3600, len(scans)
            step = max(1, 5400 // max(1, n))
            for k, c in enumerate(scans):
                at = sec + (k * step if n <= 5400 else k * 5400 // n)
                self.row(f"scans_{st.code}.csv", "scan", hdr,
                         [st.code, f"PDA{k % 2 + 1}", "stocktake", self.tstr(day, at), c, "", sess])

    # -------------------------------------------------------------- planning
    def plan_lookalikes(self):
        rng = self.rng
        for st in self.stores:
            for m0 in range(0, self.days, 30):
                d = rng.randrange(m0, min(self.days, m0 + 30))
                self.at(st, d, 8 * 3600 + rng.randrange(300), self.ev_busy)
                if st.customers:
                    d = rng.randrange(m0, min(self.days, m0 + 30))
                    self.at(st, d, 9 * 3600 + rng.randrange(3600), self.ev_family, rng.choice(st.customers))
            if st.h24:
                for _ in range(3):
                    self.at(st, rng.randrange(self.days), rng.choice([0, 1, 2, 23]) * 3600 + rng.randrange(3600),
                            self.ev_night_legit)
            if self.days > 12 and self.covered:
                it = rng.choice(self.covered[:20])
                exp_day = rng.randrange(min(8, self.days - 4), self.days - 1)
                got = self.receive(st, 0, 6 * 3600 + 2400, [(it, 2)], pool=st.held, expy=self.dates[exp_day])
                self.at(st, max(1, exp_day - rng.randint(1, 5)), 15 * 3600, self.ev_near_expiry, it, got[it.idx])

    def ev_busy(self, st, day, sec):
        sids, psns = [], []
        for k in range(self.rng.randint(12, 16)):
            p = self.rng.choice(st.customers) if st.customers and self.rng.random() < 0.8 else None
            if p and p.last_day == day:
                continue
            sid, _ = self.visit(st, day, sec + k * self.rng.randint(60, 150), p)
            if sid:
                sids.append(sid)
                psns.append(p.psn_no)
        self.look("busy_morning", st.code, setl_ids=sids, psn_nos=psns,
                  description="busy morning: many different customers within ~30 minutes, ordinary varied baskets")

    def ev_family(self, st, day, sec, p):
        if p.last_day == day:
            return
        s1, _ = self.visit(st, day, sec, p, returnable=False)
        s2, _ = self.visit(st, day, sec + self.rng.randint(4, 9) * 3600, p, returnable=False)
        if s1 and s2:
            self.look("family_twice_a_day", st.code, setl_ids=[s1, s2], psn_nos=[p.psn_no],
                      description="one card used twice in a day (family member), ordinary amounts")

    def ev_night_legit(self, st, day, sec):
        p = self.rng.choice(st.customers) if st.customers else None
        if p and p.last_day != day:
            sid, _ = self.visit(st, day, sec, p)
            if sid:
                self.look("night_sale_24h_store", st.code, setl_ids=[sid], psn_nos=[p.psn_no],
                          description="night-time sale at the 24-hour store")

    def unhold(self, st, it, boxes):
        h = st.held.get(it.idx, [])
        for b in boxes:
            h.remove(b)

    def ev_near_expiry(self, st, day, sec, it, boxes):
        p = self.rng.choice(st.customers) if st.customers else None
        if not p:
            return
        self.unhold(st, it, boxes)
        sid, _ = self.visit(st, day, sec, p, lines=[self.line(it, boxes=boxes)], returnable=False)
        self.look("near_expiry_sale", st.code, setl_ids=[sid], codes=[b[0] for b in boxes], items=[it.id],
                  description="boxes sold a few days before their expiry date (legitimate)")

    # ------------------------------------------------------------- incidents
    def inc(self, pattern, st, day, items=(), psn_nos=(), zh="", en=""):
        d = {"id": "", "pattern": pattern, "store": st.code, "setl_ids": [], "codes": [], "psn_nos": list(psn_nos),
             "items": list(items), "period": "", "amount_fen": 0, "description_zh": zh,
             "description_en": en}
        self.incidents.append(d)
        return d

    def plan_incidents(self):
        rng = self.rng
        fs = self.fraud_stores
        if not fs:
            return
        scale = len(fs) / 4 * self.days / 61
        n = max(1, round(4 * scale))
        scan_fs = [s for s in fs if s.scan_log] or fs
        non24 = [s for s in fs if not s.h24] or fs
        last = self.days - 1
        early = max(1, last - 1)

        def day(lo=1, hi=None):
            hi = hi if hi is not None else last
            return rng.randrange(min(lo, hi - 1) if hi > 1 else 0, max(hi, 1))

        def sec():
            return 9 * 3600 + rng.randrange(11 * 3600)
        k = 0
        for pat in PATTERNS:
            cnt = n if pat != "store_outlier" else max(1, math.ceil(self.days / 31))
            for j in range(cnt):
                k += 1
                pool = (scan_fs if pat in ("phantom_sale", "substitution", "settlement_without_sale") else
                        non24 if pat in ("night_swipe", "card_collection") else fs)
                st = pool[(j + k) % len(pool)]
                getattr(self, "plan_" + pat)(st, day, sec, early, j)

    def dedicated(self, st, n=1):
        ps = [self._new_person(st) for _ in range(n)]
        for p in ps:
            p.bal = max(p.bal, 500000) if p.insutype == "310" else 0
        return ps

    def pick_stocked(self, st, lo_fen=0, hi_fen=10**9, chronic=None, min_boxes=1):
        cands = [it for it in self.covered if lo_fen <= it.box_fen <= hi_fen and it.idx not in st.unstocked
                 and (chronic is None or it.chronic == chronic)]
        self.rng.shuffle(cands)
        for it in cands:
            if len(st.boxes.get(it.idx, ())) >= min_boxes:
                return it
        return None

    def _settled(self, inc, sid, total, codes=(), psn=None):
        inc["setl_ids"].append(sid)
        inc["amount_fen"] += total
        inc["codes"] += [c for c in codes if c != PLACEHOLDER]
        if not inc["period"]:
            inc["period"] = self.dstr[self._day][:7]
        if psn and psn not in inc["psn_nos"]:
            inc["psn_nos"].append(psn)

    # phantom sale: settled and recorded as sold, but the boxes stay on the shelf
    def plan_phantom_sale(self, st, day, sec, early, j):
        inc = self.inc("phantom_sale", st, 0, zh="虚假购药：医保结算并记销售，但药品未离店，盘点时追溯码仍在货架",
                       en="phantom sale: settled and booked as sold, boxes never left; codes scanned at stocktake")
        self.at(st, day(1, early), sec(), self.ev_phantom, inc, True)

    def ev_phantom(self, st, day, sec, inc, record):
        p = self.dedicated(st)[0]
        it = self.pick_stocked(st, 2000, 15000, min_boxes=4)
        if not it:
            return
        n = self.rng.randint(2, 4)
        boxes = self.take(st, it, n)
        st.held.setdefault(it.idx, []).extend(boxes)
        lines = [self.line(it, boxes=boxes)]
        sid, total, _ = self.settle(st, day, sec, p, lines)
        if record:
            self.record_sale(st, day, sec, lines, p, sid)
        inc["period"] = self.dstr[day][:7]
        inc["items"] = [it.id]
        self._settled(inc, sid, total, lines[0]["codes"])

    def plan_settlement_without_sale(self, st, day, sec, early, j):
        inc = self.inc("settlement_without_sale", st, 0, zh="有医保结算无销售记录（空刷）",
                       en="settlement with no matching sale record (empty swipe)")
        self.at(st, day(1, early), sec(), self.ev_phantom, inc, False)

    def plan_negative_stock(self, st, day, sec, early, j):
        cands = [it for it in self.covered if it.idx not in st.unstocked and 1500 <= it.box_fen <= 8000]
        if not cands:
            return
        it = self.rng.choice(cands[len(cands) // 2:])
        st.unstocked.add(it.idx)
        inc = self.inc("negative_stock", st, 0, items=[it.id], zh="销售数量远超购进数量（负库存）",
                       en="item sold far beyond what was ever received (negative running stock)")
        d0 = day(1, max(2, self.days - 10))
        for k in range(self.rng.randint(3, 5)):
            self.at(st, min(self.days - 1, d0 + k * self.rng.randint(1, 3)), sec(), self.ev_negative, inc, it)

    def ev_negative(self, st, day, sec, inc, it):
        p = self.dedicated(st)[0]
        q = self.rng.randint(2, 4)
        lines = [self.line(it, units=q * it.convrat, codes=[self.fake_code(it) for _ in range(q)])]
        sid, total, _ = self.settle(st, day, sec, p, lines)
        self.record_sale(st, day, sec, lines, p, sid)
        self._settled(inc, sid, total, lines[0]["codes"])

    def plan_substitution(self, st, day, sec, early, j):
        inc = self.inc("substitution", st, 0, zh="串换药品：以医保药品名义结算，实际拿走非医保商品",
                       en="substitution: covered drug billed, non-covered goods taken without a sale")
        self.at(st, day(1, early), sec(), self.ev_substitution, inc)

    def ev_substitution(self, st, day, sec, inc):
        rng = self.rng
        goods = [g for g in self.goods if st.nc.get(g.idx, 0) >= 2 and g.box_fen >= 4000]
        if not goods:
            return
        g = rng.choice(goods)
        for _ in range(20):
            it = self.pick_stocked(st, 1500, 10**9, min_boxes=3)
            if it and 1 <= round(g.box_fen / it.box_fen) <= 6 and len(st.boxes[it.idx]) >= round(g.box_fen / it.box_fen) + 1:
                break
        else:
            return
        n = round(g.box_fen / it.box_fen)
        boxes = self.take(st, it, n)
        st.held.setdefault(it.idx, []).extend(boxes)
        st.nc[g.idx] -= 1
        p = self.dedicated(st)[0]
        lines = [self.line(it, boxes=boxes)]
        sid, total, _ = self.settle(st, day, sec, p, lines)
        self.record_sale(st, day, sec, lines, p, sid)
        inc.update(items=[it.id, g.id])
        self._settled(inc, sid, total, lines[0]["codes"])

    def plan_code_product_mismatch(self, st, day, sec, early, j):
        inc = self.inc("code_product_mismatch", st, 0, zh="结算时扫描的追溯码属于其他药品",
                       en="code scanned at settlement belongs to another product than the billed one")
        self.at(st, day(), sec(), self.ev_mismatch, inc)

    def ev_mismatch(self, st, day, sec, inc):
        a = self.pick_stocked(st, 2000, 20000)
        b = self.pick_stocked(st, 500, 3000, min_boxes=3)
        if not a or not b or a is b:
            return
        n = self.rng.randint(1, 2)
        bb = self.take(st, b, n)
        p = self.dedicated(st)[0]
        ln = self.line(a, units=n * a.convrat, codes=[x[0] for x in bb], box=bb[0])
        sid, total, _ = self.settle(st, day, sec, p, [ln])
        self.record_sale(st, day, sec, [ln], p, sid)
        inc.update(items=[a.id, b.id])
        self._settled(inc, sid, total, ln["codes"])

    def plan_resold_code(self, st, day, sec, early, j):
        inc = self.inc("resold_code", st, 0, zh="同一追溯码在本店无退货情况下再次结算（回流药）",
                       en="box code settled again at the same store without a return (resold box)")
        self.at(st, day(max(4, self.days // 3)), sec(), self.ev_resold, inc, st)

    def plan_resold_code_cross_store(self, st, day, sec, early, j):
        inc = self.inc("resold_code_cross_store", st, 0, zh="追溯码在他店已结算，本店再次结算，无调拨",
                       en="code settled at another store earlier, settled again here with no transfer")
        others = [s for s in self.stores if s is not st]
        if others:
            self.at(st, day(max(4, self.days // 3)), sec(), self.ev_resold, inc, others[j % len(others)])

    def ev_resold(self, st, day, sec, inc, src):
        cands = [x for x in src.recent_sold if x[2] <= day - 2]
        if not cands:
            return
        code, idx, _ = self.rng.choice(cands)
        src.recent_sold.remove((code, idx, _))
        it = self.items[idx]
        p = self.dedicated(st)[0]
        ln = self.line(it, units=it.convrat, codes=[code])
        extra = self.take(st, it, 1) if self.rng.random() < 0.5 else None
        lines = [ln]
        if extra:
            ln["units"] += it.convrat
            ln["codes"].append(extra[0][0])
            ln["boxes"] = extra
        sid, total, _ = self.settle(st, day, sec, p, lines)
        self.record_sale(st, day, sec, lines, p, sid)
        inc.update(items=[it.id])
        self._settled(inc, sid, total, [code])

    def plan_unknown_code(self, st, day, sec, early, j):
        inc = self.inc("unknown_code", st, 0, zh="结算的追溯码从未入库（格式有效）",
                       en="settled code that was never received anywhere (valid format, right prefix)")
        self.at(st, day(), sec(), self.ev_unknown, inc)

    def ev_unknown(self, st, day, sec, inc):
        it = self.pick_stocked(st, 1000, 20000)
        if not it:
            return
        p = self.dedicated(st)[0]
        q = self.rng.randint(1, 2)
        ln = self.line(it, units=q * it.convrat, codes=[self.fake_code(it) for _ in range(q)])
        sid, total, _ = self.settle(st, day, sec, p, [ln])
        self.record_sale(st, day, sec, [ln], p, sid)
        inc.update(items=[it.id])
        self._settled(inc, sid, total, ln["codes"])

    def plan_fewer_codes(self, st, day, sec, early, j):
        inc = self.inc("fewer_codes", st, 0, zh="结算盒数多于追溯码数（非拆零）",
                       en="more boxes billed than distinct codes scanned (not split-pack)")
        self.at(st, day(), sec(), self.ev_fewer, inc)

    def ev_fewer(self, st, day, sec, inc):
        it = self.pick_stocked(st, 1500, 15000, min_boxes=2)
        if not it:
            return
        n = self.rng.randint(3, 5)
        k = self.rng.randint(1, 2)
        bx = self.take(st, it, k)
        p = self.dedicated(st)[0]
        ln = self.line(it, boxes=bx)
        ln["units"] = n * it.convrat
        sid, total, _ = self.settle(st, day, sec, p, [ln])
        self.record_sale(st, day, sec, [ln], p, sid)
        inc.update(items=[it.id])
        self._settled(inc, sid, total, ln["codes"])

    def plan_product_barcode(self, st, day, sec, early, j):
        inc = self.inc("product_barcode", st, 0, zh="以商品条码(EAN-13)代替追溯码上传",
                       en="EAN-13 product barcode uploaded instead of a trace code")
        self.at(st, day(), sec(), self.ev_barcode, inc)

    def ev_barcode(self, st, day, sec, inc):
        it = self.pick_stocked(st, 800, 15000)
        if not it:
            return
        bx = self.take(st, it, 1)
        p = self.dedicated(st)[0]
        ln = self.line(it, boxes=bx, codes=[it.ean])
        sid, total, _ = self.settle(st, day, sec, p, [ln])
        self.record_sale(st, day, sec, [ln], p, sid)
        inc.update(items=[it.id])
        self._settled(inc, sid, total, [it.ean])

    def plan_expired_sale(self, st, day, sec, early, j):
        if self.days < 6:
            return
        it = self.rng.choice(self.covered[:30])
        exp_day = self.rng.randrange(1, max(2, self.days // 2))
        got = self.receive(st, 0, 6 * 3600 + 2700, [(it, self.rng.randint(2, 3))], pool=st.held, expy=self.dates[exp_day])
        inc = self.inc("expired_sale", st, 0, items=[it.id], zh="药品过期后仍销售结算", en="box sold after its expiry date")
        d = self.rng.randrange(exp_day + 1, self.days)
        self.at(st, d, sec(), self.ev_expired, inc, it, got[it.idx])

    def ev_expired(self, st, day, sec, inc, it, boxes):
        p = self.dedicated(st)[0]
        self.unhold(st, it, boxes)
        ln = self.line(it, boxes=boxes)
        sid, total, _ = self.settle(st, day, sec, p, [ln])
        self.record_sale(st, day, sec, [ln], p, sid)
        self._settled(inc, sid, total, ln["codes"])

    def plan_price_markup(self, st, day, sec, early, j):
        inc = self.inc("price_markup", st, 0, zh="结算单价超过平均进价1.5倍",
                       en="billed unit price above 1.5 x the average purchase price")
        hold = {}
        for _ in range(self.rng.randint(1, 3)):
            self.at(st, day(), sec(), self.ev_markup, inc, hold)

    def ev_markup(self, st, day, sec, inc, hold):
        it = hold.get("it") or self.pick_stocked(st, 1000, 12000, min_boxes=2)
        hold["it"] = it
        if not it or len(st.boxes.get(it.idx, ())) < 1:
            return
        bx = self.take(st, it, self.rng.randint(1, min(2, len(st.boxes[it.idx]))))
        p = self.dedicated(st)[0]
        fen = int(it.cost_fen / it.convrat * self.rng.uniform(1.85, 2.6)) + 1
        ln = self.line(it, boxes=bx, unit_fen=fen)
        sid, total, _ = self.settle(st, day, sec, p, [ln])
        self.record_sale(st, day, sec, [ln], p, sid)
        inc.update(items=[it.id])
        self._settled(inc, sid, total, [])

    def plan_name_mismatch(self, st, day, sec, early, j):
        inc = self.inc("name_mismatch", st, 0, zh="医保结算为药品，收银销售记录为非医保商品",
                       en="insurance line names a covered drug, the till sale (same setl_id) a non-covered good")
        self.at(st, day(), sec(), self.ev_name_mismatch, inc)

    def ev_name_mismatch(self, st, day, sec, inc):
        goods = [g for g in self.goods if st.nc.get(g.idx, 0) >= 1 and g.box_fen >= 3000]
        if not goods:
            return
        g = self.rng.choice(goods)
        a = self.pick_stocked(st, 800, 6000, min_boxes=2)
        if not a:
            return
        n = max(1, round(g.box_fen / a.box_fen))
        st.nc[g.idx] -= 1
        p = self.dedicated(st)[0]
        ln = self.line(a, units=n * a.convrat, codes=[])
        ln["sale_it"] = g
        ln["sale_unit_fen"] = a.box_fen * n
        sid, total, _ = self.settle(st, day, sec, p, [ln])
        ln2 = dict(ln, units=1)
        self.record_sale(st, day, sec, [ln2], p, sid)
        inc.update(items=[a.id, g.id])
        self._settled(inc, sid, total, [])

    # --- person patterns (dedicated cards)
    def _real(self, st, day, sec, p, inc, lines=None, n_lines=None, chronic=None):
        if lines is None:
            lines = self.basket(st, True, n_lines=n_lines, chronic=chronic)
        if not lines:
            return None
        sid, total, money = self.settle(st, day, sec, p, lines)
        self.record_sale(st, day, sec, lines, p, sid)
        self.sold(st, day, lines)
        if inc is not None:
            self._settled(inc, sid, total, [], p.psn_no)
            if not inc["period"]:
                inc["period"] = self.dstr[day][:7]
        return sid, total, money, lines

    def plan_frequent_swipes(self, st, day, sec, early, j):
        p = self.dedicated(st)[0]
        inc = self.inc("frequent_swipes", st, 0, psn_nos=[p.psn_no], zh="同一人单日/单月多次刷卡",
                       en="one card swiped many times a day / month")
        inc["period"] = ""
        for d in sorted(self.rng.sample(range(self.days), min(self.days, self.rng.randint(3, 4)))):
            for k in range(self.rng.randint(4, 6)):
                self.at(st, d, 8 * 3600 + k * 7200 + self.rng.randrange(3000), self._real, p, inc, None, 1)

    def plan_monthly_amount(self, st, day, sec, early, j):
        p = self.dedicated(st)[0]
        inc = self.inc("monthly_amount", st, 0, psn_nos=[p.psn_no], zh="个人月度医保购药金额超过1200元",
                       en="one person's monthly insured spending above 1,200 yuan")
        inc["period"] = ""
        m0 = self.rng.randrange(0, max(1, self.days - 29)) if self.days > 30 else 0
        ds = sorted(self.rng.sample(range(m0, min(self.days, m0 + 28)), min(self.days - m0, 28, 7)))
        for d in ds:
            self.at(st, d, sec(), self.ev_monthly, p, inc)

    def ev_monthly(self, st, day, sec, p, inc):
        lines = []
        target = self.rng.randint(22000, 38000)
        for _ in range(8):
            it = self.pick_stocked(st, 3000, 30000, min_boxes=2)
            if not it or sum(ln["unit_fen"] * ln["units"] for ln in lines) >= target:
                break
            q = max(1, min(len(st.boxes[it.idx]) - 1, 3, target // it.box_fen))
            lines.append(self.line(it, boxes=self.take(st, it, q)))
        if lines:
            self._real(st, day, sec, p, inc, lines)

    def plan_large_settlement(self, st, day, sec, early, j):
        p = self.dedicated(st)[0]
        inc = self.inc("large_settlement", st, 0, psn_nos=[p.psn_no], zh="单次结算金额远高于正常水平",
                       en="single settlement far above normal")
        inc["period"] = ""
        self.at(st, day(), sec(), self.ev_large, p, inc)

    def ev_large(self, st, day, sec, p, inc):
        lines, tot = [], 0
        target = self.rng.randint(180000, 420000)
        cands = sorted([it for it in self.covered if len(st.boxes.get(it.idx, ())) >= 2],
                       key=lambda it: -it.box_fen)[:10]
        for it in cands:
            if tot >= target:
                break
            q = max(1, min(len(st.boxes[it.idx]) - 1, (target - tot) // it.box_fen + 1, 6))
            lines.append(self.line(it, boxes=self.take(st, it, q)))
            tot += q * it.box_fen
        if lines:
            self._real(st, day, sec, p, inc, lines)

    def plan_night_swipe(self, st, day, sec, early, j):
        ps = self.dedicated(st, self.rng.randint(2, 4))
        inc = self.inc("night_swipe", st, 0, psn_nos=[p.psn_no for p in ps], zh="非24小时门店深夜(23:00-05:00)刷卡",
                       en="settlements at 23:00-05:00 at a store that is not open 24 hours")
        inc["period"] = ""
        d = day(1, self.days - 1)
        t0 = self.rng.choice([23 * 3600 + 600, 3600, 2 * 3600, 3 * 3600])
        for k, p in enumerate(ps):
            self.at(st, d, t0 + k * self.rng.randint(120, 600), self._real, p, inc, None, 2)

    def plan_multi_store(self, st, day, sec, early, j):
        fs = [s for s in self.fraud_stores]
        if len(fs) < 3:
            return
        p = self.dedicated(st)[0]
        inc = self.inc("multi_store", st, 0, psn_nos=[p.psn_no], zh="同一人短时间内在3家以上门店刷卡",
                       en="same card at 3+ stores within about two hours")
        inc["period"] = ""
        d = day()
        k0 = fs.index(st)
        t = 9 * 3600 + self.rng.randrange(8 * 3600)
        for k in range(self.rng.randint(3, min(4, len(fs)))):
            self.at(fs[(k0 + k) % len(fs)], d, t, self._real, p, inc, None, 1)
            t += self.rng.randint(20, 40) * 60

    def plan_split_settlement(self, st, day, sec, early, j):
        p = self.dedicated(st)[0]
        inc = self.inc("split_settlement", st, 0, psn_nos=[p.psn_no], zh="一次购药拆分为多笔结算，每笔低于200元",
                       en="one basket split into several settlements minutes apart, each under 200 yuan")
        inc["period"] = ""
        d, t = day(), sec()
        for k in range(self.rng.randint(3, 4)):
            self.at(st, d, t + k * self.rng.randint(90, 300), self.ev_split, p, inc)

    def ev_split(self, st, day, sec, p, inc):
        target = self.rng.randint(15000, 19800)
        lines, tot = [], 0
        for _ in range(10):
            it = self.pick_stocked(st, 1500, target - tot, min_boxes=2)
            if not it:
                break
            q = max(1, min((target - tot) // it.box_fen, len(st.boxes[it.idx]) - 1, 4))
            lines.append(self.line(it, boxes=self.take(st, it, q)))
            tot += q * it.box_fen
            if tot >= target - 1500:
                break
        if lines:
            self._real(st, day, sec, p, inc, lines)

    def plan_swipe_refund_cycle(self, st, day, sec, early, j):
        p = self.dedicated(st)[0]
        inc = self.inc("swipe_refund_cycle", st, 0, psn_nos=[p.psn_no], zh="刷卡后10分钟内退费，反复多次",
                       en="settle then reverse within 10 minutes, repeated by one person")
        inc["period"] = ""
        ds = sorted(self.rng.sample(range(1, self.days), min(self.days - 1, self.rng.randint(3, 6))))
        hold = {}
        for d in ds:
            self.at(st, d, sec(), self.ev_cycle, p, inc, hold)

    def ev_cycle(self, st, day, sec, p, inc, hold):
        if "box" not in hold:
            it = self.pick_stocked(st, 2000, 20000, min_boxes=2)
            if not it:
                return
            hold["it"], hold["box"] = it, self.take(st, it, 1)
            st.held.setdefault(it.idx, []).extend(hold["box"])
        it = hold["it"]
        lines = [self.line(it, boxes=hold["box"])]
        sid, total, money = self.settle(st, day, sec, p, lines)
        doc = self.record_sale(st, day, sec, lines, p, sid)
        s2 = sec + self.rng.randint(100, 540)
        self.sale_return(st, day, s2, lines, p, sid, doc)
        new = self.reverse(st, day, s2, p, sid, money, total)
        inc["items"] = [it.id]
        self._settled(inc, sid, total, lines[0]["codes"], p.psn_no)
        inc["setl_ids"].append(new)

    def plan_excess_supply(self, st, day, sec, early, j):
        p = self.dedicated(st)[0]
        inc = self.inc("excess_supply", st, 0, psn_nos=[p.psn_no], zh="同一药品月累计数量远超合理用药天数",
                       en="cumulative quantity of one drug over a month far beyond a reasonable supply")
        inc["period"] = ""
        m0 = self.rng.randrange(0, max(1, self.days - 29)) if self.days > 30 else 0
        ds = sorted(self.rng.sample(range(m0, min(self.days, m0 + 28)), min(self.days - m0, 28, self.rng.randint(6, 8))))
        hold = {}
        for d in ds:
            self.at(st, d, sec(), self.ev_excess, p, inc, hold)

    def ev_excess(self, st, day, sec, p, inc, hold):
        if "it" not in hold:
            cands = [it for it in self.chronic_items if it.box_fen <= 6000 and len(st.boxes.get(it.idx, ())) >= 5]
            if not cands:
                return
            hold["it"] = self.rng.choice(cands)
        it = hold["it"]
        q = min(self.rng.randint(4, 6), len(st.boxes.get(it.idx, ())) - 1)
        if q < 1:
            return
        lines = [self.line(it, boxes=self.take(st, it, q))]
        inc["items"] = [it.id]
        self._real(st, day, sec, p, inc, lines)

    def plan_card_collection(self, st, day, sec, early, j):
        ps = self.dedicated(st, self.rng.randint(11, 15))
        inc = self.inc("card_collection", st, 0, psn_nos=[p.psn_no for p in ps], zh="几分钟内同一门店集中刷多张医保卡",
                       en="many different cards within minutes at one counter, odd hours, similar baskets")
        inc["period"] = ""
        d = day()
        t = self.rng.choice([6 * 3600 + 1200, 21 * 3600 + 1800, 22 * 3600])
        hold = {}
        for k, p in enumerate(ps):
            self.at(st, d, t + k * self.rng.randint(15, 40), self.ev_collect, p, inc, hold)

    def ev_collect(self, st, day, sec, p, inc, hold):
        if "it" not in hold:
            hold["it"] = self.pick_stocked(st, 2000, 15000, min_boxes=3) or self.pick_stocked(st, 800, 10**9)
        it = hold["it"]
        if not it:
            return
        if len(st.boxes.get(it.idx, ())) < 2:
            self.receive(st, day, max(0, sec - 1800), [(it, st.oq[it.idx] + 2)])
        q = min(self.rng.choice([1, 1, 2]), len(st.boxes[it.idx]))
        inc["items"] = [it.id]
        self._real(st, day, sec, p, inc, [self.line(it, boxes=self.take(st, it, q))])

    def plan_identical_baskets(self, st, day, sec, early, j):
        ps = self.dedicated(st, self.rng.randint(8, 12))
        inc = self.inc("identical_baskets", st, 0, psn_nos=[p.psn_no for p in ps], zh="多人购药清单完全相同",
                       en="the same basket (same items and quantities) across many persons")
        inc["period"] = ""
        d0 = day(0, max(1, self.days - 10))
        hold = {}
        for p in ps:
            self.at(st, min(self.days - 1, d0 + self.rng.randrange(8)), sec(), self.ev_identical, p, inc, hold)

    def ev_identical(self, st, day, sec, p, inc, hold):
        if "basket" not in hold:
            its = []
            for _ in range(10):
                it = self.pick_stocked(st, 1000, 8000, min_boxes=4)
                if it and it not in its:
                    its.append(it)
                if len(its) == 3:
                    break
            hold["basket"] = [(it, q) for it, q in zip(its, [2, 1, 3])]
            inc["items"] = [it.id for it in its]
        lines = []
        for it, q in hold["basket"]:
            if len(st.boxes.get(it.idx, ())) < q:
                self.receive(st, day, max(0, sec - 3600), [(it, st.oq[it.idx] + q)])
            lines.append(self.line(it, boxes=self.take(st, it, q)))
        if len(lines) >= 2:
            self._real(st, day, sec, p, inc, lines)

    def plan_store_outlier(self, st, day, sec, early, j):
        months = sorted({self.dstr[d][:7] for d in range(self.days)})
        m = months[j % len(months)]
        st = self.fraud_stores[(j * 2 + 1) % len(self.fraud_stores)]
        if m in st.outlier_months:
            return
        pool = self.dedicated(st, max(10, int(st.lam_ins * 1.6 * 31 / 2.5)))
        inc = self.inc("store_outlier", st, 0, zh="门店刷卡次数/金额远高于同类门店",
                       en="store's swipe count and amount far above its peers")
        inc["period"] = m
        st.outlier_months[m] = (inc, pool)

    # -------------------------------------------------------------- finish
    def finish(self):
        files = self.close()
        incs = [i for i in self.incidents if i["setl_ids"] or i["codes"]]
        by = {}
        for i in incs:
            by[i["pattern"]] = by.get(i["pattern"], 0) + 1
            i["id"] = f"{i['pattern']}-{by[i['pattern']]:02d}"
            i["codes"] = list(dict.fromkeys(i["codes"]))
        gt = {"generator": self.params,
              "stores": [{"store": s.code, "name": s.name, "clean": s.clean, "h24": s.h24, "format": s.fmt,
                          "scan_log": s.scan_log, "split_placeholder": s.placeholder, "name_variant": s.variant}
                         for s in self.stores],
              "incidents": incs, "lookalikes": self.lookalikes}
        with open(self.out / "ground_truth.json", "w", encoding="utf-8") as f:
            json.dump(gt, f, ensure_ascii=False, indent=1)
        files["ground_truth.json"] = len(incs)
        # the chain's audit configuration: which stores are open around the clock
        h24 = ", ".join(f'"{s.code}"' for s in self.stores if s.h24)
        (self.out / "invreconcile.toml").write_text(
            "# Audit configuration of the sample chain (see 'invreconcile rules').\n"
            f"[audit]\nstores_24h = [{h24}]\n", encoding="utf-8")
        files["invreconcile.toml"] = 1
        looks = {}
        for lk in self.lookalikes:
            looks[lk["kind"]] = looks.get(lk["kind"], 0) + 1
        return {"out_dir": str(self.out), "files": files, "rows": dict(sorted(self.rows.items())),
                "incidents": by, "lookalikes": looks}


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    L, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= L:
            return k
        k += 1


def _fix_zip(path: Path) -> None:
    """Rewrite an XLSX with fixed member timestamps and core properties: same input, same bytes."""
    with zipfile.ZipFile(path) as z:
        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z", data)
            zi = zipfile.ZipInfo(name, FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)


def generate(out_dir, *, stores=6, days=61, start="2026-09-01", customers=600, items=150, seed=42, clean_stores=2,
             fraud=True) -> dict:
    """Write a sample chain's records and ``ground_truth.json`` to ``out_dir``; return a summary
    (files with row counts, rows per kind, incidents per pattern, look-alikes per kind)."""
    if stores < 1 or days < 1 or items < 5:
        raise ValueError("need stores >= 1, days >= 1, items >= 5")
    g = _Gen(out_dir, stores, days, start, customers, items, seed, clean_stores, fraud)
    return g.run()
