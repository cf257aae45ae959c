"""The scanner station as a user meets it: a process reading scans, a terminal showing
verdicts, a ledger that keeps every acknowledged scan."""
from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pexpect
import pytest
from click.testing import CliRunner

from invreconcile.cli import main
from test_verify import BOX_ELSEWHERE, BOX_IN, BOX_SOLD, CASE, build_ledger

STATION = [sys.executable, "-m", "scanners.station"]
ACK = re.compile(r"^  #(\d+)  (\S+)$", re.M)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    folder = tmp_path_factory.mktemp("station")
    build_ledger(folder).conn.close()
    return folder / "ledger.db"


@pytest.fixture
def fresh_ledger(tmp_path):
    build_ledger(tmp_path).conn.close()
    return tmp_path / "ledger.db"


def station(db, *args):
    return [*STATION, "--db", str(db), "--store", "P1", *args]


def new_codes(n, tag):
    return [f"81000019{tag:02d}{i:010d}" for i in range(n)]


def test_station_is_a_plugin_command_of_invreconcile():
    assert "station" in main.commands
    result = CliRunner().invoke(main, ["station", "--help"])
    assert result.exit_code == 0
    assert "--mode [receive|dispense|stocktake|verify]" in result.output


def test_verdicts_through_a_pipe(ledger):
    lines = [BOX_IN, BOX_SOLD, "", "6901234567892", "12345", BOX_ELSEWHERE, BOX_IN, ":q"]
    out = subprocess.run(station(ledger, "--mode", "dispense", "--station", "pipe", "--session", "pipe-1"),
                         input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=30).stdout
    titles = re.findall(r"✘  (.+?)  ✘|✔  (.+?)  ✔", out)
    assert [a or b for a, b in titles] == [
        "通过 OK", "已售出 ALREADY SOLD", "扫的是商品条码 PRODUCT BARCODE, NOT TRACE CODE",
        "无效码 NOT A VALID CODE", "本店未入库 NEVER RECEIVED HERE", "本次重复扫码 DUPLICATE SCAN IN THIS SESSION"]
    assert out.count("\a") == 5
    assert "结算 S1" in out and "2025-02-01 10:00:00" in out
    assert "\x1b[" not in out  # no colour codes when the output is not a terminal


def test_english_and_verify_mode_records_nothing(fresh_ledger):
    out = subprocess.run(station(fresh_ledger, "--mode", "verify", "--lang", "en"), input=f"{BOX_SOLD}\n",
                         capture_output=True, text=True, timeout=30).stdout
    assert "ALREADY SOLD" in out and "settlement S1" in out and "#not-recorded" in out
    assert sqlite3.connect(fresh_ledger).execute("SELECT COUNT(*) FROM scans").fetchone() == (0,)


def test_killed_station_loses_no_acknowledged_scan(fresh_ledger):
    codes = new_codes(400, 1)
    proc = subprocess.Popen(station(fresh_ledger, "--mode", "receive", "--station", "k1"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def feed():
        try:
            for c in codes:
                proc.stdin.write(c + "\n")
                proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
    threading.Thread(target=feed, daemon=True).start()
    seen = []
    for line in proc.stdout:
        m = ACK.match(line.rstrip("\n"))
        if m:
            seen.append((int(m.group(1)), m.group(2)))
            if len(seen) == 120:
                proc.send_signal(signal.SIGKILL)
                break
    seen += [(int(a), b) for a, b in ACK.findall(proc.stdout.read())]  # printed before the kill
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(seen) >= 120
    conn = sqlite3.connect(fresh_ledger)
    stored = dict(conn.execute("SELECT id, code FROM scans WHERE station_id = 'k1'"))
    for scan_id, code in seen:
        assert stored.get(scan_id) == code
    events = {c for (c,) in conn.execute("SELECT code FROM code_events WHERE event = 'scanned' AND src_table = 'scans'")}
    assert {c for _, c in seen} <= events
    assert len(stored) < len(codes)  # it really was killed mid-stream


def test_three_stations_at_once_lose_nothing(fresh_ledger):
    procs = []
    t0 = time.monotonic()
    for n in range(3):
        codes = new_codes(200, 10 + n)
        p = subprocess.Popen(station(fresh_ledger, "--mode", "receive", "--station", f"c{n}"),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append((p, codes))
    # all three get their input at once and run side by side
    threads = [threading.Thread(target=lambda p=p, c=c: p.stdin.write("\n".join(c) + "\n:q\n") or p.stdin.close())
               for p, c in procs]
    for t in threads:
        t.start()
    outputs = [p.communicate(timeout=60) for p, _ in procs]
    elapsed = time.monotonic() - t0
    conn = sqlite3.connect(fresh_ledger)
    for n, ((p, codes), (out, err)) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, err
        assert len(ACK.findall(out)) == 200
        got = [c for (c,) in conn.execute("SELECT code FROM scans WHERE station_id = ? ORDER BY src_row", (f"c{n}",))]
        assert got == codes
    assert conn.execute("SELECT COUNT(*) FROM code_events WHERE event = 'scanned'").fetchone() == (600,)
    assert elapsed < 45, f"600 scans on 3 stations took {elapsed:.1f} s"


def test_terminal_session_stocktake(fresh_ledger):
    # started as users start it: the invreconcile command with the station plugin
    cmd = shutil.which("invreconcile") or ""
    args = ["station"] if cmd else ["-m", "scanners.station"]
    child = pexpect.spawn(cmd or sys.executable, args + ["--db", str(fresh_ledger), "--store", "P1", "--station", "tty",
                                                         "--mode", "stocktake"],
                          encoding="utf-8", timeout=15, dimensions=(40, 100), env={**os.environ, "TERM": "xterm"})
    try:
        child.expect("扫码> ")
        child.sendline(BOX_IN)
        child.expect("通过 OK")
        child.expect("有效期至 2027-01-31")
        assert "\x1b[1;97;42m" in child.before + child.after  # green banner
        child.expect("扫码> ")
        child.sendline(BOX_SOLD)
        child.expect("已售出")
        child.expect("结算 S1")
        child.expect("可能是虚假销售")
        child.expect("\a")
        child.sendline("6901234567892")
        child.expect("扫的是商品条码")
        child.sendline(BOX_IN)
        child.expect("本次重复扫码")
        child.sendline(CASE)  # a sealed case counts its boxes
        child.expect("通过 OK")
        child.sendline(":end")
        child.expect("盘点结束 有差异")
        child.expect(r"台账应在架 8 盒，本次扫到 4 盒")
        child.expect(r"应在架但未扫到: 5")
        child.expect(r"台账显示已售出却在架（疑似虚假销售）: 1\r\n  81000010000000000002  A1  2025-02-01 10:00:00 P1 结算 S1 单据 R-1")
        child.expect("报告结束")
        child.expect("扫码> ")
        child.sendline(":q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_serial_scanner(fresh_ledger):
    master, slave = os.openpty()
    port = os.ttyname(slave)
    proc = subprocess.Popen(station(fresh_ledger, "--mode", "receive", "--station", "ser", "--port", port,
                                    "--baud", "9600"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        out = ""
        while "已打开" not in out:
            out += proc.stdout.readline()
        os.write(master, f"]C1{BOX_IN}\r".encode())           # scanner with AIM prefix and CR
        os.write(master, b"6901234567892\r\n")
        os.write(master, b":q\r")
        rest, _ = proc.communicate(timeout=20)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0
    assert "通过 OK" in rest and "扫的是商品条码" in rest
    rows = sqlite3.connect(fresh_ledger).execute("SELECT raw, code, verdict FROM scans WHERE station_id = 'ser'").fetchall()
    assert rows == [(f"]C1{BOX_IN}", BOX_IN, "ok"), ("6901234567892", "6901234567892", "product_barcode")]


def test_serial_port_that_cannot_be_opened(fresh_ledger):
    r = subprocess.run(station(fresh_ledger, "--port", "/dev/no-such-scanner"), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=30)
    assert r.returncode == 1
    assert "Error: /dev/no-such-scanner: cannot open the serial port" in r.stderr
    assert "Check the device name and that no other program holds it." in r.stderr


def test_image_folder(fresh_ledger, tmp_path):
    barcode = pytest.importorskip("barcode")
    from barcode.writer import ImageWriter

    photos = tmp_path / "photos"
    photos.mkdir()
    barcode.get("code128", BOX_SOLD, writer=ImageWriter()).save(str(photos / "box1"))
    out = subprocess.run(station(fresh_ledger, "--mode", "dispense", "--station", "img", "--images", str(photos)),
                         capture_output=True, text=True, timeout=60).stdout
    assert "[box1.png]" in out
    assert "已售出" in out and "结算 S1" in out
