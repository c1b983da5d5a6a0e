"""What staff type is checked where they type it, and a refusal names the flag.

Found by a user trial: a blank ``--requester`` and ``--email notanemail`` were
taken; ``--published abc`` was refused by the plan without naming the flag; a
3000-character site name and ``--lead-evaluator "张 三"`` started a plan;
``--level expert`` did not say which flag nor what it may be; a plan file
without most of its fields answered ``等级""无效``; a folder given as an upload
was "not found"; and a 100,000-character id came back whole in the refusal.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from temporalio.client import Client

from certflow.config import Settings
from certflow.i18n import t
from certflow.models import PLAN_TEXT_MAX_LENGTH, Level, NewPlanInfo, PlanInfo
from starter.cli import parse
from tests.cli.conftest import Certflow, certflow_runner
from tests.cli.test_commands import ADMIN, INFO, start_argv
from tests.cli.test_staff_rules import plan_exists, started_input, with_flag
from tests.support import PlanDriver, english_words, sample_plan, unique_plan_id

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

PLAN = "P2026-1104-0412"
SUBMIT = [*INFO, "correction", "submit", PLAN, "--admission", "2026110412012",
          "--field", "practical", "--requested", "60",
          "--reason", "录入错误"]  # fmt: skip


# -- correction submit -----------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "key"),
    [
        ("--requester", "   ", "cli.requester_blank"),
        ("--requester", "\u3000", "cli.requester_blank"),
        ("--email", "notanemail", "cli.bad_email"),
        ("--email", "黎芬芳 <kaowu@whjtxx.example.edu.cn>", "cli.bad_email"),
        ("--email", "kaowu@whjtxx", "cli.bad_email"),
    ],
    ids=["blank", "ideographic-space", "no-at", "with-name", "no-domain"],
)
async def test_a_blank_requester_or_an_address_that_is_none_is_refused(
    flag: str,
    value: str,
    key: str,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = await certflow_runner(settings, None)(*SUBMIT, flag, value)

    assert outcome.status == 2
    err = capsys.readouterr().err
    assert f"参数 {flag}：" in err
    assert t(key, value=value) in err


async def test_a_requester_and_an_address_as_they_should_be_are_taken() -> None:
    args, _ = parse(
        [*SUBMIT, "--requester", " 武汉市交通职业技术学校 ",
         "--email", "kaowu@whjtxx.example.edu.cn"]
    )  # fmt: skip
    assert args.field_requester == "武汉市交通职业技术学校"
    assert args.field_requester_email == "kaowu@whjtxx.example.edu.cn"
    args, _ = parse(SUBMIT)
    assert args.field_requester is None and args.field_requester_email is None


@pytest.mark.parametrize(
    ("field", "published", "requested", "wrong"),
    [
        ("practical", "abc", "60", "--published"),
        ("practical", "", "63.001", "--requested"),
        ("theory", "50", "1e1", "--requested"),
        ("total", "", "100.5", "--requested"),
        ("practical", "-5", "60", "--published"),
    ],
    ids=["letters", "three-decimals", "exponent", "above-100", "negative"],
)
async def test_a_score_the_plan_would_refuse_is_refused_naming_its_flag(
    field: str, published: str, requested: str, wrong: str, settings: Settings
) -> None:
    """Read by intake's rule for a score typed as text, before anything is sent."""
    argv = with_flag(with_flag(SUBMIT, "--field", field), "--requested", requested)

    outcome = await certflow_runner(settings, None)(*argv, "--published", published)

    assert outcome.status == 2
    value = published if wrong == "--published" else requested
    assert t("cli.bad_score_value", flag=wrong, value=value) in outcome.out
    assert english_words(outcome.out, value) == []


@pytest.mark.parametrize(
    ("published", "requested", "wrong", "meant"),
    [("", "60,10", "--requested", "60.10"), ("50。1", "60.1", "--published", "50.1")],
    ids=["comma", "full-stop"],
)
async def test_a_comma_or_a_full_stop_for_the_point_is_named(
    published: str, requested: str, wrong: str, meant: str, settings: Settings
) -> None:
    """Trial: "60,10" was refused as no score of 0 to 100, leaving staff to
    find the comma; the refusal now names the point and the value meant."""
    argv = with_flag(SUBMIT, "--requested", requested)

    outcome = await certflow_runner(settings, None)(*argv, "--published", published)

    assert outcome.status == 2
    value = published if wrong == "--published" else requested
    said = t("cli.bad_score_mark", flag=wrong, value=value, meant=meant)
    assert said in outcome.out


async def test_a_status_correction_names_the_status_words(settings: Settings) -> None:
    argv = with_flag(with_flag(SUBMIT, "--field", "status"), "--requested", "63")

    outcome = await certflow_runner(settings, None)(*argv)

    assert outcome.status == 2
    assert t("cli.bad_status_value", flag="--requested", value="63",
             words="正常、缺考、违纪") in outcome.out  # fmt: skip


@pytest.mark.parametrize(
    ("field", "published", "requested", "label"),
    [
        ("theory", "53.1", "53.10", "理论成绩"),
        ("practical", " 60 ", "60.00", "实操成绩"),
        ("status", "缺考", "缺考", "考试状态"),
    ],
    ids=["trailing-zero", "spaces", "status"],
)
async def test_a_requested_value_the_same_as_the_published_one_is_refused(
    field: str, published: str, requested: str, label: str, settings: Settings
) -> None:
    """Regression (staff trial): ``--published 53.1 --requested 53.1`` was
    filed and taken through approval and application, changing nothing. The
    same value twice is refused before anything is sent."""
    argv = with_flag(with_flag(SUBMIT, "--field", field), "--requested", requested)

    outcome = await certflow_runner(settings, None)(*argv, "--published", published)

    assert outcome.status == 2
    assert outcome.out.strip() == t(
        "cli.requested_is_published",
        requested=requested.strip(),
        published=published.strip(),
        field=label,
    )


# -- plan start ------------------------------------------------------------------


async def test_new_plans_meet_the_limits_and_recorded_plans_still_load() -> None:
    """The limits hold for a plan being started; a plan recorded before them
    (a longer name, a name as an evaluator id) must still load, or its
    workflow would fail every task on replay and continue-as-new."""
    plan = sample_plan(date.today()).model_dump()
    longest = "站" * PLAN_TEXT_MAX_LENGTH

    for name in ("site_name", "certificate", "module_name"):
        assert getattr(NewPlanInfo.model_validate({**plan, name: longest}), name)
        with pytest.raises(ValueError, match="at most 100"):
            NewPlanInfo.model_validate({**plan, name: longest + "站"})
        recorded = PlanInfo.model_validate({**plan, name: longest + "站"})
        assert getattr(recorded, name) == longest + "站"
    for staff_id in ("张 三", "张三", "ZCX E 0107", "-E1", "E1;DROP"):
        with pytest.raises(ValueError):
            NewPlanInfo.model_validate({**plan, "lead_evaluator_id": staff_id})
        with pytest.raises(ValueError):
            NewPlanInfo.model_validate({**plan, "evaluator_ids": ["E-1", staff_id]})
        assert PlanInfo.model_validate({**plan, "lead_evaluator_id": staff_id})
    started = NewPlanInfo.model_validate(plan).recorded()
    assert type(started) is PlanInfo and started == PlanInfo.model_validate(plan)


async def test_a_site_name_past_the_limit_is_refused_naming_flag_and_limit(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    argv = with_flag(start_argv(new_driver.plan), "--site-name", "x" * 3000)

    outcome = await certflow(*argv)

    assert outcome.status == 2
    assert outcome.out.strip() == t(
        "cli.plan_field_invalid",
        field=t("cli.plan_fields.site_name"),
        flag="--site-name",
        problem=t("validation.too_long", max_length=PLAN_TEXT_MAX_LENGTH),
    )
    assert not await plan_exists(client, new_driver.plan.plan_id)


@pytest.mark.parametrize(
    ("flag", "field", "value", "chars"),
    [
        ("--module-name", "module_name", "汽车动力\u202e与驱动", "U+202E"),
        ("--site-code", "site_code", "S01\u200b", "U+200B"),
        ("--site-name", "site_name", "测试\n学院", "U+000A"),
        ("--certificate", "certificate", "汽车\u00ad运用\u2066", "U+00AD、U+2066"),
    ],
    ids=["override", "zero-width-space", "line-break", "soft-hyphen-isolate"],
)
async def test_a_plan_text_holding_a_hidden_character_is_refused_naming_it(
    settings: Settings, flag: str, field: str, value: str, chars: str
) -> None:
    """Review: ``plan start --module-name`` with a right-to-left override
    pasted in was taken; the module's name is printed on every certificate,
    and a zero-width space after the site code made it another site's."""
    plan = sample_plan(date.today(), unique_plan_id())

    outcome = await certflow_runner(settings, None)(
        *with_flag(start_argv(plan), flag, value)
    )

    assert outcome.status == 2
    assert outcome.out.strip() == t(
        "cli.plan_field_invalid",
        field=t(f"cli.plan_fields.{field}"),
        flag=flag,
        problem=t("validation.hidden", chars=chars),
    )
    # Spaces around a text are no matter: stripped as always.
    assert NewPlanInfo.model_validate({**plan.model_dump(), field: " S01\t"})


async def test_a_site_name_at_the_limit_and_staff_ids_start_the_plan(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    longest = "武" * PLAN_TEXT_MAX_LENGTH
    argv = with_flag(start_argv(new_driver.plan), "--site-name", longest)

    outcome = await certflow(*argv)

    assert outcome.status == 0, outcome.out
    info = (await started_input(client, new_driver.plan.plan_id)).info
    assert info.site_name == longest
    assert info.lead_evaluator_id == new_driver.plan.lead_evaluator_id


async def test_a_name_given_for_a_staff_id_is_refused_naming_each_flag(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    argv = with_flag(start_argv(new_driver.plan), "--lead-evaluator", "张 三")
    argv = [*argv[: argv.index("--evaluator")], "--evaluator", "E-1", "李 四"]

    outcome = await certflow(*argv)

    assert outcome.status == 2
    for name, flag in (
        ("lead_evaluator_id", "--lead-evaluator"),
        ("evaluator_ids", "--evaluator"),
    ):
        expected = t(
            "cli.plan_field_invalid",
            field=t(f"cli.plan_fields.{name}"),
            flag=flag,
            problem=t(f"cli.plan_field_shapes.{name}"),
        )
        assert expected in outcome.out
    # The name typed is not repeated: it is a person's name.
    assert "张" not in outcome.out and "李" not in outcome.out
    assert not await plan_exists(client, new_driver.plan.plan_id)


@pytest.mark.parametrize(
    ("evaluators", "code", "named"),
    [
        (["ZCX-E-0107", "ZCX-E-0107"], "lead_as_evaluator", "ZCX-E-0107"),
        (["ZCX-E-0213", "zcx-e-0107"], "lead_as_evaluator", "zcx-e-0107"),
        (["ZCX-E-0213", "ZCX-E-0288", "ZCX-E-0213"], "repeated_staff_id", "ZCX-E-0213"),
        (["ZCX-E-0213", "zcx-e-0213"], "repeated_staff_id", "zcx-e-0213"),
    ],
    ids=["lead-twice", "lead-lower-case", "evaluator-twice", "any-case"],
)
async def test_an_evaluator_given_twice_or_the_lead_as_evaluator_is_refused(
    settings: Settings, evaluators: list[str], code: str, named: str
) -> None:
    """Regression: ``--lead-evaluator ZCX-E-0107 --evaluator ZCX-E-0107
    ZCX-E-0107`` started a plan whose team listed one person three times."""
    plan = sample_plan(date.today(), unique_plan_id())
    argv = start_argv(plan)
    argv = [*argv[: argv.index("--evaluator")], "--evaluator", *evaluators]

    outcome = await certflow_runner(settings, None)(*argv)

    assert outcome.status == 2
    assert outcome.out.strip() == t(
        "cli.plan_field_invalid",
        field=t("cli.plan_fields.evaluator_ids"),
        flag="--evaluator",
        problem=t(f"validation.{code}", staff_id=named),
    )
    with pytest.raises(ValueError):
        NewPlanInfo.model_validate({**plan.model_dump(), "evaluator_ids": evaluators})


async def test_a_wrong_level_names_its_flag_and_the_levels(
    settings: Settings, tmp_path: Path
) -> None:
    plan = sample_plan(date.today(), unique_plan_id())
    by_flag = await certflow_runner(settings, None)(
        *with_flag(start_argv(plan), "--level", "expert")
    )
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(plan_toml(plan, level="expert"), encoding="utf-8")
    by_file = await certflow_runner(settings, None)(
        *ADMIN, "plan", "start", "--from-file", str(plan_file)
    )

    levels = "、".join(f"{level.value}（{level.chinese}）" for level in Level)
    for outcome, where in ((by_flag, "--level"), (by_file, "level")):
        assert outcome.status == 2
        assert outcome.out.strip() == t(
            "cli.bad_level", where=where, level="expert", levels=levels
        )
    assert all(word in by_flag.out for word in ("初级", "中级", "高级"))


def plan_toml(plan: PlanInfo, **changed: str) -> str:
    """A plan file holding ``plan``'s fields, some of them ``changed``."""
    fields = {
        "plan_id": plan.plan_id,
        "site_code": plan.site_code,
        "site_name": plan.site_name,
        "certificate": plan.certificate,
        "level": plan.level.chinese,
        "module_code": plan.module_code,
        "module_name": plan.module_name,
        "lead_evaluator_id": plan.lead_evaluator_id,
        **changed,
    }
    lines = [f'{key} = "{value}"' for key, value in fields.items()]
    return "\n".join([*lines, f"exam_end_date = {plan.exam_end_date}", ""])


async def test_a_plan_file_lacking_fields_lists_every_one_missing(
    settings: Settings, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(
        'plan_id = "P2026-1104-0412"\nsite_code = "HB-WH-0031"\nsite_name = " "\n',
        encoding="utf-8",
    )

    outcome = await certflow_runner(settings, None)(
        *ADMIN, "plan", "start", "--from-file", str(plan_file)
    )

    assert outcome.status == 2
    missing = ["site_name", "certificate", "level", "module_code", "module_name",
               "exam_end_date", "lead_evaluator_id"]  # fmt: skip
    fields = "、".join(f"{key}（{t(f'cli.plan_fields.{key}')}）" for key in missing)
    assert outcome.out.strip() == t(
        "cli.plan_file_missing", path=plan_file, fields=fields
    )


# -- files and echoed values -----------------------------------------------------


async def test_a_folder_given_as_an_upload_is_said_to_be_a_folder(
    settings: Settings, tmp_path: Path
) -> None:
    outcome = await certflow_runner(settings, None)(
        "--as", "lead_evaluator", "--person", "ZCX-E-0107",
        "upload", "summary", PLAN, str(tmp_path),
    )  # fmt: skip

    assert outcome.status == 2
    assert outcome.out.strip() == t("cli.file_is_folder", path=tmp_path)


@pytest.mark.parametrize(
    "argv",
    [
        # With a space: only of a code's characters, its length alone is said.
        ["status", "A" * 100_000 + " 1"],
        ["--as", "A" * 100_000, "status", PLAN],
        ["status", PLAN, "A" * 100_000],
        [*SUBMIT, "--email", "A" * 100_000],
        [*ADMIN, "clock", "advance", "A" * 100_000],
    ],
    ids=["code", "choice", "unknown", "email", "days"],
)
async def test_a_pasted_value_is_repeated_only_in_part(
    argv: list[str], settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = await certflow_runner(settings, None)(*argv)

    said = outcome.out + capsys.readouterr().err
    assert outcome.status == 2
    assert "A" * 40 + "…" in said
    assert "A" * 41 not in said
    assert len(said) < 2000


# -- numbers -------------------------------------------------------------------


async def test_a_number_typed_in_full_width_digits_is_read_as_every_number_is() -> None:
    """Trial: ``notice resend ９９`` was refused, though ``--version ２`` and
    every other number typed were read as 2."""
    resend, _ = parse([*ADMIN, "notice", "resend", "９９"])
    fetch, _ = parse(
        [*ADMIN, "document", "get", PLAN, "score_summary", "--version", "２"]
    )

    assert resend.notification == 99
    assert fetch.version == 2


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            [*ADMIN, "document", "get", PLAN, "score_summary", "--version", "abc"],
            "参数 --version：" + t("cli.bad_version", value="abc"),
        ),
        (
            [*ADMIN, "document", "get", PLAN, "score_summary", "--version", "0"],
            "参数 --version：" + t("cli.bad_version", value="0"),
        ),
        (
            [*ADMIN, "confirm-summary", PLAN, "--version", "²"],
            "参数 --version：" + t("cli.bad_version", value="²"),
        ),
        (
            [*ADMIN, "calendar", "show", "二〇二七"],
            "参数 YEAR：" + t("cli.calendar_year", value="二〇二七"),
        ),
        (
            # Trial: out of the database's range, the look-up failed with a
            # traceback; an ID number typed there was repeated whole.
            [*ADMIN, "calendar", "show", "99999999999999999999"],
            "参数 YEAR：" + t("cli.calendar_year", value="99999999999999999999"),
        ),
        (
            [*ADMIN, "calendar", "show", "27"],
            "参数 YEAR：" + t("cli.calendar_year", value="27"),
        ),
    ],
    ids=[
        "letters",
        "zero",
        "superscript",
        "year-in-words",
        "year-too-big",
        "year-of-two-digits",
    ],
)
async def test_a_number_that_is_none_says_what_number_is_wanted(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trial: ``--version abc`` said only 格式不对, not that a positive whole
    number was wanted."""
    with pytest.raises(SystemExit) as refused:
        parse(argv)

    assert refused.value.code == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize("typed", ["考生签到表", " Candidate_Sign_In "])
async def test_a_kind_of_document_is_taken_by_its_chinese_name_too(typed: str) -> None:
    """Trial: ``document get`` took only the code of a kind, though the tool
    names kinds in Chinese and takes roles by their Chinese names."""
    args, _ = parse([*ADMIN, "document", "get", PLAN, typed])

    assert args.kind == "candidate_sign_in"


async def test_an_unknown_kind_of_document_is_refused_naming_the_kinds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Trial: the refusal listed the kinds as English-quoted codes only."""
    with pytest.raises(SystemExit) as refused:
        parse([*ADMIN, "document", "get", PLAN, "发票"])

    said = capsys.readouterr().err
    assert refused.value.code == 2
    assert "“发票”不是可取回的文件类型" in said
    assert "invoice_details（发票信息收集表）" in said
    assert "'score_summary'" not in said
