"""Names are names: a formula or a note typed into the name cell is refused.

Regression: such cells were accepted, stored and only neutralised in the
national platform's file, which would then carry a corrupted name.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from certflow.intake import read_score_summary
from certflow.intake.summary import name_is_plausible
from tests.support import sample_plan

CSV = (
    Path(__file__).resolve().parents[2]
    / "samples"
    / "intake"
    / "P2026-1104-0412-成绩汇总表-gbk.csv"
)


def test_formulas_in_name_cells_are_refused_with_their_rows() -> None:
    text = CSV.read_bytes().decode("gbk")
    text = text.replace("黎芬", '"=HYPERLINK(""http://x"",""黎芬"")"', 1)
    text = text.replace("胡俊霞", "+1+1", 1)
    text = text.replace("陈思彬", "@SUM(1)", 1)
    text = text.replace("夏宇玲", "JOHN SMITH", 1)  # a foreign name is fine

    reading = read_score_summary(text.encode("gbk"), sample_plan(date(2026, 11, 4)))

    assert not reading.accepted
    bad = sorted((p.row, p.code) for p in reading.problems)
    assert bad == [(2, "bad_name"), (3, "bad_name"), (5, "bad_name")]
    assert all("黎芬" not in (p.value or "") for p in reading.problems)


def test_plausible_names() -> None:
    for name in ("黎芬", "买买提·艾力", "JOHN SMITH", "Zoë", "欧阳娜娜"):
        assert name_is_plausible(name), name
    for name in ("=A1", "+1+1", "@SUM(1)", "张三1", "李四（代考）", "王  五", "·张"):
        assert not name_is_plausible(name), name


def test_spaces_between_han_characters_go_whatever_their_plane() -> None:
    # 𠀀 (U+20000) is in CJK extension B, outside the Basic Multilingual Plane.
    text = CSV.read_bytes().decode("gbk")
    text = text.replace("黎芬", "胡 𠀀霞", 1).replace("胡俊霞", "胡 俊霞", 1)
    text = text.replace("夏宇玲", "𠀀 \U0002a6a5", 1)  # both outside the BMP

    reading = read_score_summary(text.encode("utf-8"), sample_plan(date(2026, 11, 4)))

    assert reading.accepted, reading.problems
    assert [row.name for row in reading.rows[:3]] == [
        "胡𠀀霞",
        "胡俊霞",
        "𠀀\U0002a6a5",
    ]


def test_letters_that_show_as_nothing_are_refused_in_names() -> None:
    from certflow.intake import read_candidate_sign_in

    fillers = ["\u3164", "\u115f", "\u1160", "\uffa0", "\u2800"]
    text = CSV.read_bytes().decode("gbk")
    names = ["黎芬", "胡俊霞", "夏宇玲", "陈思彬", "方浩"]
    for name, filler in zip(names, fillers, strict=True):
        text = text.replace(name, name[0] + filler + name[1:], 1)
    plan = sample_plan(date(2026, 11, 4))

    reading = read_score_summary(text.encode("utf-8"), plan)

    assert [(p.code, p.row) for p in reading.problems] == [
        ("bad_name", row) for row in range(2, 7)
    ]
    sign_in = read_candidate_sign_in(
        "姓名,准考证号,签名\r\n胡\u3164霞,2026110412002,已签\r\n".encode(), plan
    )
    assert [(p.code, p.row) for p in sign_in.problems] == [("bad_name", 2)]
    for filler in fillers:
        assert not name_is_plausible(f"胡{filler}霞"), hex(ord(filler))


def test_every_candidates_name_is_checked_against_the_certificate_font() -> None:
    """Regression: only passing candidates' names were checked, so an absent
    or a failing candidate's name the font lacks was accepted, and a
    correction during publicity could make them pass (the quick path and
    the full check of a row alike)."""
    lacking = "𠮷"  # U+20BB7: read here as a character the font lacks
    text = CSV.read_bytes().decode("gbk")
    text = text.replace("黎芬", f"黎{lacking}", 1)  # row 2: failed
    text = text.replace("杨鹏", f"杨{lacking}", 1)  # row 7: absent
    text = text.replace("胡俊霞", f"胡{lacking}霞", 1)  # row 3: passed

    reading = read_score_summary(
        text.encode("utf-8"),
        sample_plan(date(2026, 11, 4)),
        unprintable=lambda name: [c for c in name if c == lacking],
    )

    assert not reading.accepted
    found = sorted((p.row, p.code, p.column) for p in reading.problems)
    assert found == [
        (2, "unprintable_name", "考生姓名"),
        (3, "unprintable_name", "考生姓名"),
        (7, "unprintable_name", "考生姓名"),
    ]


def test_hidden_characters_in_sign_in_names_are_refused_naming_them() -> None:
    """Regression: a sign-in sheet's name holding a direction override, a
    zero-width joiner or an escape (the summary refuses them) was accepted
    and kept so, looking like the summary's name while differing from it."""
    from certflow.intake import read_candidate_sign_in, read_evaluator_sign_in

    plan = sample_plan(date(2026, 11, 4))
    candidates = read_candidate_sign_in(
        (
            "姓名,准考证号,签名\r\n"
            "黎\u202e芬,2026110412001,已签\r\n"
            "胡\x1b俊霞,2026110412002,已签\r\n"
            "夏\u200d宇玲,2026110412003,已签\r\n"
            "陈思彬,2026110412004,已签\r\n"
        ).encode(),
        plan,
    )
    assert [(p.code, p.row, p.value) for p in candidates.problems] == [
        ("name_hidden_characters", 2, "黎*"),
        ("name_hidden_characters", 3, "胡**"),
        ("name_hidden_characters", 4, "夏**"),
    ]
    assert "U+202E" in candidates.problems[0].render()
    assert "U+001B" in candidates.problems[1].render()
    evaluators = read_evaluator_sign_in(
        "姓名,工号,签名\r\n周\u2066建国,ZCX-E-0107,已签\r\n".encode(), plan
    )
    assert [(p.code, p.row) for p in evaluators.problems] == [
        ("name_hidden_characters", 2)
    ]
