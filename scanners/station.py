"""Terminal scanner station: one verdict per scan, in big coloured text, at once.

Start it with ``invreconcile station --mode dispense --store P0001 --station desk1`` (or
``python -m scanners.station ...``). A keyboard-wedge scanner types each code and Enter
into the terminal; with ``--port /dev/ttyUSB0 --baud 9600`` a serial scanner is read
instead (any pyserial URL works, e.g. ``loop://``). ``--images DIR`` reads the barcodes
on every photo of a folder.

Modes: ``receive`` (boxes or case codes arriving, ``--doc`` = purchase document),
``dispense`` (boxes leaving, ``--doc`` = settlement id or retail document),
``stocktake`` (counting; ``:end`` prints what is missing and what should not be there),
``verify`` (look up only, nothing recorded).

Every scan except in ``verify`` mode is committed to the ledger before its verdict is
shown. Commands typed (or scanned) at the prompt: ``:end`` end the stocktake and print the
report, ``:doc NUMBER`` set the document (``:doc`` alone clears it), ``:help``, ``:q``.
"""
from __future__ import annotations

import datetime as dt
import os
import queue
import socket
import sys
import threading
import unicodedata
import uuid
from pathlib import Path

import click

from invreconcile import verify
from invreconcile.errors import InvReconcileError
from invreconcile.ledger import open_ledger

RESET = "\033[0m"
GREEN = "\033[1;97;42m"
RED = "\033[1;97;41m"
YELLOW = "\033[1;30;43m"
COLOURS = {
    "ok": GREEN,
    "already_sold": RED, "never_received": RED, "not_in_stock": RED, "expired": RED,
    "wrong_product": RED,
    "product_barcode": YELLOW, "invalid": YELLOW, "duplicate_in_session": YELLOW,
    "unknown_item": YELLOW,
}
MODE_TITLES = {"receive": ("收货验收", "RECEIVE"), "dispense": ("销售出库", "DISPENSE"),
               "stocktake": ("盘点", "STOCKTAKE"), "verify": ("查询（不记录）", "VERIFY (not recorded)")}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
EOF = object()


def display_width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


class Station:
    """One station session: reads lines, gives verdicts, records scans, prints."""

    def __init__(self, db, *, store: str, station_id: str, mode: str, doc_no: str | None = None,
                 lang: str = "zh", out=None, color: bool = True, session_id: str | None = None,
                 width: int | None = None):
        self.db = db
        self.store = store
        self.station_id = station_id
        self.mode = mode
        self.doc_no = doc_no
        self.lang = lang
        self.out = out or sys.stdout
        self.color = color
        self.width = width or max(40, min(100, os.get_terminal_size(self.out.fileno()).columns
                                          if self.out.isatty() else 72))
        self.session_id = session_id or self._new_session()
        self.scans_since_report = 0

    def T(self, zh: str, en: str) -> str:
        return en if self.lang == "en" else zh

    def _new_session(self) -> str:
        now = dt.datetime.now().strftime("%Y%m%d%H%M%S")
        return f"{self.station_id}-{now}-{uuid.uuid4().hex[:8]}"

    def write(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # ------------------------------------------------------------------ screen

    def banner(self, status: str, title: str) -> None:
        mark = "✔" if status == "ok" else "✘"
        text = f"{mark}  {title}  {mark}"
        pad = max(0, self.width - display_width(text))
        line = " " * (pad // 2) + text + " " * (pad - pad // 2)
        if self.color:
            colour = COLOURS.get(status, YELLOW)
            blank = " " * self.width
            self.out.write(f"{colour}{blank}{RESET}\n{colour}{line}{RESET}\n{colour}{blank}{RESET}\n")
        else:
            self.out.write(f"{'=' * self.width}\n{line.rstrip()}\n{'=' * self.width}\n")

    def header(self) -> None:
        zh, en = MODE_TITLES[self.mode]
        self.write(self.T(f"扫码站 {self.station_id} | 门店 {self.store} | {zh}",
                          f"Station {self.station_id} | store {self.store} | {en}")
                   + (self.T(f" | 单据 {self.doc_no}", f" | document {self.doc_no}") if self.doc_no else ""))
        self.write(self.T(f"会话 {self.session_id}。扫码即可；:end 结束盘点，:doc 单号 设置单据，:q 退出",
                          f"Session {self.session_id}. Scan; :end ends a stocktake, :doc NUMBER sets the "
                          "document, :q quits"))

    def prompt(self) -> None:
        if self.out.isatty():
            self.out.write(self.T("扫码> ", "scan> "))
            self.out.flush()

    def show(self, v: verify.Verdict, scan_id: int | None, source: str | None = None) -> None:
        if source:
            self.write(f"[{source}]")
        self.banner(v.status, v.title(self.lang) if self.lang == "en" else
                    f"{v.title('zh')} {verify.STATUSES[v.status][1]}")
        ref = f"#{scan_id}" if scan_id is not None else self.T("#未记录", "#not-recorded")
        self.write(f"  {ref}  {v.key or v.code.text or repr(v.code.raw)}")
        self.write(f"  {v.message(self.lang)}")
        if not v.ok:
            self.out.write("\a")
        self.out.flush()

    # ------------------------------------------------------------------ actions

    def scan(self, raw: str, source: str | None = None) -> verify.Verdict:
        session = self.session_id if self.mode != "verify" else None
        v = verify.verdict(self.db, raw, store=self.store, mode=self.mode, doc_no=self.doc_no, session=session)
        scan_id = None
        if self.mode != "verify":
            scan_id = verify.record_scan(self.db, v, store=self.store, station_id=self.station_id,
                                         mode=self.mode, session_id=self.session_id, doc_no=self.doc_no)
            self.scans_since_report += 1
        self.show(v, scan_id, source)
        return v

    def end_stocktake(self, new_session: bool = True) -> verify.StocktakeReport:
        rep = verify.stocktake_report(self.db, self.store, self.session_id)
        T = self.T
        self.banner("ok" if rep.clean else "already_sold",
                    T(f"盘点结束 {'无差异' if rep.clean else '有差异'}",
                      f"STOCKTAKE END: {'ALL MATCH' if rep.clean else 'DIFFERENCES'}"))
        self.write(T(f"会话 {rep.session_id}：台账应在架 {rep.expected} 盒，本次扫到 {rep.scanned} 盒",
                     f"Session {rep.session_id}: ledger expects {rep.expected} boxes on the shelf, "
                     f"{rep.scanned} scanned"))
        sections = (
            (rep.missing, T("应在架但未扫到", "Expected on the shelf, not scanned"),
             lambda m: f"{', '.join(m['item_ids'])}  {T('最后记录', 'last')}: {m['event'] or ''} {m['since'] or ''}"),
            (rep.sold_but_present, T("台账显示已售出却在架（疑似虚假销售）", "Sold per ledger but on the shelf (possible phantom sale)"),
             lambda m: f"{', '.join(m['item_ids'])}  {m['sold_ts'] or ''} {m['sold_store']} "
                       f"{T('结算', 'settlement')} {m['setl_id'] or '-'} {T('单据', 'doc')} {m['doc_no'] or '-'}"),
            (rep.never_received, T("本店无入库记录却在架", "Never received here but on the shelf"),
             lambda m: ", ".join(m["item_ids"])),
            (rep.out_but_present, T("台账显示已调出/出库却在架", "Transferred or booked out per ledger but on the shelf"),
             lambda m: f"{', '.join(m['item_ids'])}  {m['event']} {m['ts'] or ''} {m['peer_store'] or ''}"),
        )
        for rows, title, fmt in sections:
            self.write(f"{title}: {len(rows)}")
            for m in rows:
                via = f" ({T('扫的是', 'scanned as')} {m['scanned_as']})" if m.get("scanned_as", m["code"]) != m["code"] else ""
                self.write(f"  {m['code']}{via}  {fmt(m)}")
        if not rep.clean:
            self.out.write("\a")
        self.write(T("报告结束", "End of report"))
        self.scans_since_report = 0
        if new_session:
            self.session_id = self._new_session()
            self.write(T(f"新会话 {self.session_id}", f"New session {self.session_id}"))
        return rep

    def handle(self, line: str) -> bool:
        """Act on one line; False when the station should stop."""
        text = line.strip()
        if not text:
            return True
        if text.startswith(":"):
            cmd, _, arg = text[1:].partition(" ")
            cmd = cmd.lower()
            if cmd in ("q", "quit", "exit"):
                return False
            if cmd == "end":
                if self.mode == "stocktake":
                    self.end_stocktake()
                else:
                    self.write(self.T(":end 只用于盘点模式", ":end is for stocktake mode only"))
            elif cmd == "doc":
                self.doc_no = arg.strip() or None
                self.write(self.T(f"单据：{self.doc_no or '无'}", f"Document: {self.doc_no or 'none'}"))
            else:
                self.write(self.T(":end 结束盘点并打印报告 | :doc 单号 设置单据 | :q 退出",
                                  ":end ends a stocktake and prints the report | :doc NUMBER sets the "
                                  "document | :q quits") if cmd == "help" else
                           self.T(f"未知命令 {text}；可用 :end :doc :help :q",
                                  f"Unknown command {text}; use :end :doc :help :q"))
            return True
        self.scan(line)
        return True

    def finish(self) -> None:
        if self.mode == "stocktake" and self.scans_since_report:
            self.end_stocktake(new_session=False)

    def run_images(self, folder: Path) -> None:
        from invreconcile.imaging import decode_image

        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            self.write(self.T(f"{folder}：没有图片", f"{folder}: no images"))
        for path in files:
            try:
                found = decode_image(path)
            except InvReconcileError as exc:
                self.write(f"[{path.name}] {exc}")
                continue
            if not found:
                self.banner("invalid", self.T("未读到条码", "NO BARCODE READ"))
                self.write(f"  [{path.name}]")
                self.out.write("\a")
                self.out.flush()
            for d in found:
                self.scan((d.symbology_identifier or "") + d.text, source=path.name)

    def run_lines(self, lines: "queue.Queue") -> None:
        self.prompt()
        while True:
            item = lines.get()
            if item is EOF:
                break
            if not self.handle(item):
                break
            self.prompt()


def _stdin_reader(q: "queue.Queue", fd: int) -> None:
    # os.read on the raw descriptor: a thread blocked here holds no lock of sys.stdin,
    # so the station can quit while it waits.
    buf = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            q.put(_decode(line))
    if buf:
        q.put(_decode(buf))
    q.put(EOF)


def _serial_reader(q: "queue.Queue", port: str, baud: int) -> None:
    import serial

    try:
        dev = serial.serial_for_url(port, baudrate=baud, timeout=0.2)
    except (serial.SerialException, OSError, ValueError) as exc:
        q.put(EOF)
        q.put(str(exc))
        return
    q.put(("opened", dev))
    buf = b""
    while True:
        try:
            chunk = dev.read(dev.in_waiting or 1)
        except (serial.SerialException, OSError):
            q.put(EOF)
            return
        if not chunk:
            continue
        buf += chunk
        while True:
            cut = min((i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0), default=-1)
            if cut < 0:
                break
            line, buf = buf[:cut], buf[cut + 1:]
            if line:
                q.put(_decode(line))


def _lang_from_parent(lang: str | None) -> str:
    if lang:
        return lang
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and ctx.obj.get("lang"):
            return ctx.obj["lang"]
        ctx = ctx.parent
    return os.environ.get("INVRECONCILE_LANG", "zh")


@click.command("station")
@click.option("--mode", type=click.Choice(verify.MODES), default="dispense", show_default=True,
              help="receive, dispense, stocktake or verify (look up only).")
@click.option("--store", required=True, help="Store code (fixmedins_code) of this station.")
@click.option("--station", "station_id", default=lambda: socket.gethostname(), show_default="host name",
              help="Name of this station, kept with every scan.")
@click.option("--doc", "doc_no", help="Purchase document (receive) or settlement / retail document (dispense).")
@click.option("--db", "db_path", default="invreconcile.db", show_default=True, envvar="INVRECONCILE_DB",
              type=click.Path(dir_okay=False), help="Ledger file (SQLite).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None, help="zh (default) or en.")
@click.option("--port", help="Serial port of the scanner (/dev/ttyUSB0, COM3, or a pyserial URL).")
@click.option("--baud", type=int, default=9600, show_default=True, help="Serial speed.")
@click.option("--images", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Read the barcodes on every photo in this folder instead of a scanner.")
@click.option("--session", "session_id", help="Session id (default: new one per start).")
@click.option("--color/--no-color", default=None, help="Colours (default: when the output is a terminal).")
def station_command(mode, store, station_id, doc_no, db_path, lang, port, baud, images, session_id, color):
    """Scanner station: a verdict for every scan. 扫码站：每次扫码即时给出结论。"""
    lang = _lang_from_parent(lang)
    try:
        db = open_ledger(db_path)
    except InvReconcileError as exc:
        raise click.ClickException(str(exc)) from None
    db.conn.execute("PRAGMA synchronous=FULL")  # an acknowledged scan survives a power cut too
    st = Station(db, store=store, station_id=station_id, mode=mode, doc_no=doc_no, lang=lang,
                 color=sys.stdout.isatty() if color is None else color, session_id=session_id)
    st.header()
    try:
        if images:
            st.run_images(images)
            st.finish()
            return
        q: queue.Queue = queue.Queue()
        if port:
            threading.Thread(target=_serial_reader, args=(q, port, baud), daemon=True).start()
            try:
                first = q.get(timeout=10)
            except queue.Empty:
                raise click.ClickException(f"{port}: serial port did not open within 10 s") from None
            if first is EOF:
                raise click.ClickException(f"{port}: cannot open the serial port ({q.get()}). "
                                           "Check the device name and that no other program holds it.")
            st.write(st.T(f"串口 {port} @ {baud} 已打开", f"Serial port {port} @ {baud} open"))
            if sys.stdin is not None and sys.stdin.isatty():
                threading.Thread(target=_stdin_reader, args=(q, sys.stdin.fileno()), daemon=True).start()
        else:
            threading.Thread(target=_stdin_reader, args=(q, sys.stdin.fileno()), daemon=True).start()
        st.run_lines(q)
        st.finish()
    except KeyboardInterrupt:
        st.write()
        st.finish()
    except InvReconcileError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    station_command(prog_name="python -m scanners.station")
