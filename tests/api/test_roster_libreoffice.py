"""The template survives a real office suite: a roster filled by openpyxl and the same file re-saved by
LibreOffice (`soffice --headless --convert-to xlsx`) import with identical results.

CI installs LibreOffice from Debian (`libreoffice-calc-nogui`) and this test must run there; on a
developer machine without `soffice` it is skipped with the reason.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from tests.api.plan_helpers import API, make_person, make_plan, make_voucher, roster_world
from tests.api.test_roster import fill, template, trainee_row, upload


@pytest.fixture
def world(clock, staff, client, make_institution):
    return roster_world(clock, staff, client, make_institution)

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")

pytestmark = pytest.mark.skipif(
    SOFFICE is None and os.environ.get("CI") != "true",
    reason="LibreOffice not installed (apt-get install libreoffice-calc-nogui); CI runs this test")


def libreoffice_resave(path, outdir, profile) -> bytes:
    """Open the xlsx in LibreOffice Calc and save it again as xlsx (Calc Office Open XML)."""
    assert SOFFICE, "CI must have LibreOffice: apt-get install libreoffice-calc-nogui"
    outdir.mkdir()
    # A private profile directory: parallel runs and a first start must not share or lock one.
    subprocess.run([SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                    "--convert-to", "xlsx:Calc Office Open XML", "--outdir", str(outdir), str(path)],
                   check=True, timeout=180, capture_output=True)
    return (outdir / path.name).read_bytes()


def comparable(body: dict) -> list[tuple]:
    return [(row["row"], row["status"], row["id_number_masked"], row["eligible"], tuple(row["reasons"]),
             tuple(e["code"] for e in row.get("errors", []))) for row in body["rows"]]


def test_openpyxl_and_libreoffice_files_import_the_same(client, world, tmp_path):
    holder = trainee_row(9, "郑九")
    voucher = make_voucher(make_person("郑九", holder["id_number"]).id)
    rows = [trainee_row(1, "张三", groups=["失业人员", "农民工"]), trainee_row(2, "欧阳娜娜", birth="20120101"),
            trainee_row(3, "王五", phone="12345"), dict(trainee_row(1, "张三")),  # duplicate of row 2
            trainee_row(5, "赵六", phone="+86 138 0013 8000"), dict(trainee_row(6, "孙七"), groups="外星人"),
            dict(holder, voucher_code=voucher.code)]
    filled = fill(template(client, world), rows)
    src = tmp_path / "roster.xlsx"
    src.write_bytes(filled)
    resaved = libreoffice_resave(src, tmp_path / "out", tmp_path / "lo-profile")
    assert resaved != filled
    # LibreOffice kept the ID column as text (not 3.50102E+17).
    ws = load_workbook(io.BytesIO(resaved))["参训名单"]
    assert ws["B2"].value == rows[0]["id_number"] and ws["B2"].number_format == "@"

    first = upload(client, world, filled)
    assert first.status_code == 200, first.get_json()
    # The same people into a second plan of another occupation, from the LibreOffice file. The voucher
    # was used by the first import, so that one row is expected to differ.
    second_plan = make_plan(client, world["inst_h"], occupation_code="4-03-02-02")
    r = client.post(f"{API}/plans/{second_plan['id']}/roster", headers=world["inst_h"],
                    data={"file": (io.BytesIO(resaved), "roster.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    a, b = comparable(first.get_json()), comparable(r.get_json())
    assert a[:-1] == b[:-1]
    assert a[-1][1] == "ok" and b[-1][5] == ("used",)
    assert [x[1] for x in a] == ["ok", "ok", "error", "error", "ok", "error", "ok"]
    assert a[1][4] == ("age",)
