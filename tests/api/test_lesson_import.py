"""Lessons imported from the lesson template: the template's columns, a good sheet, and a sheet with one bad
row refused whole with every row's result."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Lesson
from tests.api.plan_helpers import API, err, roster_world


@pytest.fixture
def world(clock, staff, client, make_institution):
    return roster_world(clock, staff, client, make_institution)


def _template(client, world) -> bytes:
    r = client.get(f"{API}/plans/{world['plan']['id']}/lessons/template.xlsx", headers=world["inst_h"])
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    return r.data


def _filled(raw: bytes, rows: list[list]) -> bytes:
    wb = load_workbook(io.BytesIO(raw))
    ws = wb["课次"]
    assert [c.value for c in ws[1]] == ["课次名称", "方式", "日期", "开始时间", "结束时间", "课时", "场地", "须扫现场码"]
    for i, values in enumerate(rows, start=2):
        for j, value in enumerate(values, start=1):
            ws.cell(i, j, value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _send(client, world, data: bytes):
    return client.post(f"{API}/plans/{world['plan']['id']}/lessons/import", headers=world["inst_h"],
                       data={"file": (io.BytesIO(data), "课次.xlsx")}, content_type="multipart/form-data")


def _count(plan_id) -> int:
    return db.session.execute(select(func.count()).select_from(Lesson).where(Lesson.plan_id == plan_id)).scalar()


def test_lessons_imported_from_the_template(client, world):
    r = _send(client, world, _filled(_template(client, world), [
        ["电工基础", "线下", "2026-03-11", "09:00", "12:00", 4, "鼓楼实训基地", "否"],
        ["安全规范", None, "2026/3/12", "14:00", "17:00", "4", str(world["site"]), "是"],
    ]))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["imported"] == 2
    lessons = client.get(f"{API}/plans/{world['plan']['id']}/lessons", headers=world["inst_h"]).get_json()
    by_title = {x["title"]: x for x in lessons}
    assert by_title["电工基础"]["starts_at"] == "2026-03-11T09:00:00+08:00" and by_title["安全规范"]["require_site_qr"]


def test_one_bad_row_refuses_the_whole_sheet(client, world):
    before = _count(world["plan"]["id"])
    r = _send(client, world, _filled(_template(client, world), [
        ["电工基础", "线下", "2026-03-11", "09:00", "12:00", 4, "鼓楼实训基地", None],
        ["超长课时", "线下", "2026-03-12", "09:00", "10:00", 4, "鼓楼实训基地", None],
        ["无场地", "线下", "2026-03-13", "09:00", "12:00", 4, "不存在的场地", None],
        ["", "线上", "31/02/2026", "9点", "12:00", "x", None, "也许"],
    ]))
    assert r.status_code == 422 and err(r) == "invalid_rows"
    rows = r.get_json()["error"]["details"]["rows"]
    assert [x["status"] for x in rows] == ["ok", "error", "error", "error"]
    assert rows[1]["errors"][0]["code"] == "class_hours_too_long"
    assert rows[2]["errors"][0]["field"] == "site"
    assert {e["field"] for e in rows[3]["errors"]} == {"title", "date", "start", "class_hours", "require_site_qr"}
    assert _count(world["plan"]["id"]) == before


def test_lesson_import_refusals(client, world, staff, make_institution):
    _, other_h = staff("institution", institution=make_institution("350102"))
    data = _filled(_template(client, world), [["电工基础", "线下", "2026-03-11", "09:00", "12:00", 4, "鼓楼实训基地", None]])
    r = client.post(f"{API}/plans/{world['plan']['id']}/lessons/import", headers=other_h,
                    data={"file": (io.BytesIO(data), "x.xlsx")}, content_type="multipart/form-data")
    assert r.status_code in (403, 404)
    r = client.post(f"{API}/plans/{world['plan']['id']}/lessons/import", headers=world["sup_h"],
                    data={"file": (io.BytesIO(data), "x.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 403
    r = _send(client, world, b"not a workbook")
    assert r.status_code == 422 and err(r) == "invalid_file"
