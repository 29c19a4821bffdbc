"""The occupation catalogue (#15): the 2022 edition's major groups and occupations, shipped as data."""
from __future__ import annotations

import re

from backend.domain.occupations import occupation_label, occupation_name, occupations


def test_the_eight_major_groups():
    groups = {c: n for c, n in occupations().items() if c.endswith("-00-00-00")}
    assert sorted(groups) == [f"{i}-00-00-00" for i in range(1, 9)]
    assert groups["2-00-00-00"] == "专业技术人员" and groups["6-00-00-00"] == "生产制造及有关人员"


def test_the_whole_2022_edition_is_listed_with_clean_names():
    cat = occupations()
    assert len(cat) > 1600
    assert all(re.fullmatch(r"\d-\d\d-\d\d-\d\d", c) for c in cat)
    assert not [n for n in cat.values() if re.search(r"[A-Za-z]", n)]   # no S / L edition marks left
    for code, name in {"6-31-01-03": "电工", "6-18-02-04": "焊工", "4-10-01-03": "保育师",
                       "4-10-01-05": "养老护理员", "4-10-01-06": "家政服务员", "4-03-02-01": "中式烹调师",
                       "4-03-02-02": "中式面点师", "4-10-03-01": "美容师", "4-10-03-02": "美发师",
                       "4-07-05-01": "保安员", "4-01-06-01": "电子商务师", "4-01-06-02": "互联网营销师",
                       "4-12-01-01": "汽车维修工", "4-03-02-07": "茶艺师", "4-09-10-05": "插花花艺师",
                       "4-14-02-02": "健康管理师"}.items():
        assert cat[code] == name, code


def test_dropped_2015_codes_keep_their_names():
    assert occupation_name("4-10-01-02") == "育婴员"


def test_label_names_a_known_code_and_leaves_an_unknown_one_bare():
    assert occupation_label("6-31-01-03") == "电工（6-31-01-03）"
    assert occupation_label("9-99-99-99") == "9-99-99-99"
    assert occupation_label(None) == ""
