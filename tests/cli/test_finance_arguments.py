"""Finance's and the site's payment arguments, checked before anything is sent:
the invoice number (发票号码), the free text of a payment, and corrections."""

from __future__ import annotations

from argparse import ArgumentTypeError
from decimal import Decimal

import pytest

from certflow.free_text import DETAIL_MAX_LENGTH
from certflow.i18n import t
from certflow.identity import INVOICE_NUMBER_DIGITS
from starter.cli import amount_argument, invoice_number_argument
from tests.cli.conftest import Certflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

PLAN = "P2026-1104-0412"
FINANCE = ["--as", "finance", "--person", "fin-sun"]
SITE = ["--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031"]
INVOICE = [*FINANCE, "invoice", PLAN, "--date", "2026-12-22", "--amount", "4200"]
PAYMENT = [*FINANCE, "payment", PLAN, "--amount", "4200", "--received-on", "2026-12-21"]


async def test_an_invoice_number_is_read_as_issued() -> None:
    """Full-width digits and groups typed with spaces are the digits issued."""
    assert invoice_number_argument("１２３４ ５６７８") == "12345678"
    assert invoice_number_argument(" 26442000000012345678 ") == "26442000000012345678"


async def test_the_invoice_number_length_is_said_as_it_is_enforced() -> None:
    """Regression (trial): the help said 8 to 20 digits, the refusal of an ID
    number 8 位或 20 位, and a 12-digit number was taken. The rule taken is
    8 to 20 digits (process.md's choice); help and refusals say it alike."""
    low, high = INVOICE_NUMBER_DIGITS
    rule = f"{low} 至 {high} 位数字"
    said = [
        t("help.invoice.number"),
        t("plan.invoice_number_id"),
        t("plan.bad_invoice_number", value="1"),
    ]
    for text in said:
        assert rule in text and "位或" not in text, text
    for digits in (low, 12, high):
        assert invoice_number_argument("1" * digits) == "1" * digits
    for digits in (low - 1, high + 1):
        with pytest.raises(ArgumentTypeError, match=rule):
            invoice_number_argument("1" * digits)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # Regression: a blank number and "INV 0001;<script>" were accepted.
        ([*INVOICE, "--number", "  "], t("plan.invoice_number_blank")),
        (
            [*INVOICE, "--number", "INV 0001;<script>"],
            t("plan.bad_invoice_number", value="INV 0001;<script>"),
        ),
        ([*INVOICE, "--number", "1234567"], "8 至 20 位数字"),
        # Trial: a placeholder of zeros was taken as an invoice's number.
        ([*INVOICE, "--number", "00000000"], "8 至 20 位数字"),
        # A correction says why; a first record has no reason to give.
        (
            [*INVOICE, "--number", "12345678", "--correct"],
            t("cli.correct_needs_reason"),
        ),
        (
            [*PAYMENT, "--reason", "录入错误"],
            t("cli.reason_needs_correct"),
        ),
        # --typo says what a correction mends: none without --correct.
        ([*INVOICE, "--number", "12345678", "--typo"], t("cli.typo_needs_correct")),
        ([*PAYMENT, "--correct", "--reason", "  "], t("cli.reason_blank")),
        # Regression: a blank reference and a 500-character method were accepted.
        ([*PAYMENT, "--reference", "   "], t("cli.payment_text_blank")),
        (
            [*SITE, "application", PLAN, "--scan", "x.pdf", "--paid-plan", PLAN,
             "--head-count", "14", "--amount", "4200", "--paid-on", "2026-12-20",
             "--method", "转" * (DETAIL_MAX_LENGTH + 1)],
            t(
                "free_text.too_long",
                field="缴费方式",
                limit=DETAIL_MAX_LENGTH,
                length=DETAIL_MAX_LENGTH + 1,
                hint=t("free_text.hints.detail"),
            ),
        ),
    ],
)  # fmt: skip
async def test_wrong_payment_arguments_are_refused_before_sending(
    argv: list[str],
    expected: str,
    certflow: Certflow,
    capsys: pytest.CaptureFixture[str],
) -> None:
    refused = await certflow(*argv)
    said = refused.out + capsys.readouterr().err
    assert refused.status == 2, said
    assert expected in said


@pytest.mark.parametrize(
    "typed",
    [
        "421002200506166066",
        "4210 0220 0506 1660 6X",
        "４２１００２２００５０６１６６０６６",
    ],
)
async def test_an_id_number_is_no_invoice_number_and_is_not_repeated(
    typed: str, certflow: Certflow, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trial: an ID number typed as the invoice number (18 digits) was kept as
    one: ``status`` printed it whole and the audit trail kept it for good."""
    argv = [*INVOICE, "--number", typed, "--correct", "--reason", "号码录入错误"]
    refused = await certflow(*argv)
    said = refused.out + capsys.readouterr().err

    assert refused.status == 2, said
    assert t("plan.invoice_number_id") in said
    assert "1660" not in said and "１６６０" not in said


@pytest.mark.parametrize(
    "typed",
    ["4200", "4200.00", "4,200.00", "4，200.00", "４２００", "4200元", "¥4200",
     "￥4,200.00 元"],
)  # fmt: skip
async def test_an_amount_is_read_as_a_bank_slip_writes_it(typed: str) -> None:
    """Trial: ``4,200.00``, ``4200元`` and ``¥4200`` were refused as no amount."""
    assert amount_argument(typed) == Decimal("4200")


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        # Trial: 42e2 was taken as 4200, and inf and nan were read as numbers.
        ("42e2", "cli.amount_not_written_out"),
        ("4.2E3", "cli.amount_not_written_out"),
        ("inf", "cli.amount_not_written_out"),
        ("NaN", "cli.amount_not_written_out"),
        # A comma between other groups than threes says nothing sure.
        ("42,00", "cli.bad_amount"),
        ("4,2000", "cli.bad_amount"),
    ],
)
async def test_an_amount_not_written_out_is_refused_before_sending(
    amount: str, expected: str, certflow: Certflow, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (INVOICE, PAYMENT):
        typed = [*argv, "--number", "12345678"] if argv is INVOICE else list(argv)
        typed[typed.index("--amount") + 1] = amount
        refused = await certflow(*typed)
        said = refused.out + capsys.readouterr().err

        assert refused.status == 2, said
        assert t(expected, value=amount) in said
