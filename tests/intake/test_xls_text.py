"""An xls whose cells copy too much shared text is refused before it is read.

Regression: an xls keeps each distinct text once, in its shared string table,
and a cell record (``LABELSST``) names one by its index; the cell reader
(python-calamine) copies the text into every cell naming it, then makes a
Python string of each copy. A 1.4 MB xls of one 32,767-character text named
by 100,000 cells asked it for 3 GB, and its failed allocation aborted the
process. The characters each sheet copies are now counted in the file
(``certflow.intake.biff``) before the reader opens it, and held to
``IntakeLimits.max_cell_text`` as an xlsx's and an ods's are.
"""

from __future__ import annotations

import struct
from pathlib import Path

from certflow.intake import IntakeLimits, read_score_summary
from certflow.intake.biff import string_lengths
from certflow.intake.workbook import Workbook, open_workbook
from certflow.models import PlanInfo
from tests.intake.conftest import SAMPLES
from tests.intake.test_ods_extent import _cell_reader_opened
from tests.intake.test_xlsx_extent import _opened_apart
from tests.intake.xls_writer import (
    CONTINUE,
    MOST_BODY,
    SST,
    Index,
    Shared,
    record,
    records,
    sst_records,
    xls_file,
)

SAMPLE = SAMPLES / "P2026-1104-0412-成绩汇总表.xls"
HEADER = ["序号", "姓名", "证件号码", "准考证号", "理论成绩", "实操成绩"]
# The characters of the header, which every sheet written here copies too.
HEADER_CHARS = sum(map(len, HEADER))
# The longest text a cell of an office suite holds.
LONGEST = 32767


def _one_text_in(cells: int, text: str, sheet: str = "成绩汇总") -> bytes:
    """An xls whose sheet ``sheet`` names ``text`` in ``cells`` cells below
    its header, two a row (a sheet has at most 65,536 rows)."""
    return xls_file({sheet: [HEADER] + [[text, text]] * (cells // 2)})


def test_one_long_text_in_many_cells_does_not_end_the_process(
    tmp_path: Path,
) -> None:
    """Read in a process of its own, its memory bounded as a worker's is:
    without the count, the reader aborts it."""
    data = _one_text_in(100_000, "长" * LONGEST)
    assert len(data) < 2_000_000
    codes = _opened_apart({"long": data}, tmp_path, bounded=True)
    assert codes == {"long": "too_much_text"}


def test_the_refusal_names_the_sheet_its_text_the_file_and_the_cap(
    plan: PlanInfo,
) -> None:
    limits = IntakeLimits(max_cell_text=100_000)
    data = xls_file(
        {
            "成绩汇总": [HEADER] + [["备注" * 500]] * 90,
            "说明": [["注意" * 250]] * 40,
        }
    )
    opened = _cell_reader_opened(lambda: read_score_summary(data, plan, limits=limits))
    [refused] = read_score_summary(data, plan, limits=limits).problems

    assert opened == 0
    assert refused.code == "too_much_text"
    said = ("工作表“成绩汇总”", "约 90020 个字符", "共 110020 个", "上限 100000 个")
    shown = refused.render()
    assert all(part in shown for part in said), shown


def test_the_count_happens_before_the_reader_opens_the_file() -> None:
    data = _one_text_in(700, "x" * LONGEST)

    opened = _cell_reader_opened(lambda: open_workbook(data, IntakeLimits()))
    refused = open_workbook(data, IntakeLimits())

    assert opened == 0
    assert not isinstance(refused, Workbook) and refused.code == "too_much_text"
    assert refused.fields["chars"] == 700 * LONGEST + HEADER_CHARS
    assert _cell_reader_opened(
        lambda: open_workbook(SAMPLE.read_bytes(), IntakeLimits())
    )


def test_many_short_texts_and_one_long_text_used_once_are_read() -> None:
    """20,000 rows of short texts, and a 32,767-character note in one cell:
    the bound (the longest text in every cell) passes the cap, the exact
    count does not."""
    rows = [[f"考生{n}", f"4201{n:014d}", n % 100, "合格"] for n in range(20_000)]
    rows[5][3] = "备" * LONGEST
    data = xls_file({"成绩汇总": [HEADER, *rows]})

    opened = open_workbook(data, IntakeLimits())

    assert isinstance(opened, Workbook)
    [sheet] = opened.sheets
    assert len(sheet.rows) == 20_001
    assert sheet.rows[6][3] == "备" * LONGEST
    assert sheet.rows[20_000][:2] == ["考生19999", "420100000000019999"]


def test_texts_split_over_continue_records_are_counted_whole() -> None:
    """Texts longer than a record holds go on in CONTINUE records, each
    starting with a flags byte of its own: 8-bit letters, 16-bit Chinese,
    and a text changing width where its record ends."""
    texts = ["a" * 20_000, "张" * 9_000, "x" * 8_000 + "三" * 4_000]
    table = sst_records(texts)
    assert len(list(records(table))) > 4

    kinds = [kind for _, kind, _ in records(table)]
    pieces = [body for _, _, body in records(table)]
    assert kinds[0] == SST and set(kinds[1:]) == {CONTINUE}
    assert string_lengths(pieces) == [20_000, 9_000, 12_000]

    data = xls_file({"成绩汇总": [[text] * 3 for text in texts]})
    opened = open_workbook(data, IntakeLimits())
    assert isinstance(opened, Workbook)
    assert opened.sheets[0].rows == [[text] * 3 for text in texts]

    refused = open_workbook(data, IntakeLimits(max_cell_text=3 * 41_000 - 1))
    assert not isinstance(refused, Workbook) and refused.code == "too_much_text"
    assert refused.fields["chars"] == 3 * 41_000


def test_runs_and_phonetic_bytes_across_records_are_skipped() -> None:
    """A text with formatting runs and phonetic bytes that go on in the
    next records, with no flags byte there: the text after it is counted
    at its own length, as the reader reads it."""
    table = [Shared("甲", runs=3_000, phonetic=b"p" * 9_000), "y" * 5_000]
    data = xls_file({"成绩汇总": [[Index(1)]] * 30}, table=table)

    opened = open_workbook(data, IntakeLimits())
    assert isinstance(opened, Workbook)
    assert opened.sheets[0].rows == [["y" * 5_000]] * 30

    refused = open_workbook(data, IntakeLimits(max_cell_text=149_999))
    assert not isinstance(refused, Workbook)
    assert refused.fields["chars"] == 150_000


def test_cells_naming_no_string_of_the_table_copy_nothing() -> None:
    """The reader makes no cell of an index past the table's end."""
    data = xls_file(
        {"成绩汇总": [["x" * LONGEST], *[[Index(1), Index(2**32 - 1)]] * 5_000]}
    )
    opened = open_workbook(data, IntakeLimits(max_cell_text=LONGEST))
    assert isinstance(opened, Workbook)
    assert opened.sheets[0].rows == [["x" * LONGEST]]


def test_a_text_longer_than_its_table_is_damaged(tmp_path: Path) -> None:
    """A text saying it holds 65,535 characters where its table ends after
    two: the reader fails on it, and the count does too."""
    header = struct.pack("<II", 1, 1)
    cut = record(SST, header + struct.pack("<HB", 0xFFFF, 0) + b"ab")
    data = xls_file({"成绩汇总": [[Index(0)]] * 10}, sst=cut)

    refused = open_workbook(data, IntakeLimits())

    assert not isinstance(refused, Workbook) and refused.code == "damaged"


def test_a_table_the_reader_panics_on_is_damaged(tmp_path: Path) -> None:
    """Characters going on in an empty CONTINUE record, and a run count cut
    by the record's end: the reader panics on both (an exception no handler
    of intake catches), and the count refuses them first."""
    header = struct.pack("<II", 2, 2)
    empty = record(SST, header + b"\x05\x00\x00ab") + record(CONTINUE, b"")
    runs = record(SST, header + b"\x01\x00\x00a\x01\x00\x08") + record(
        CONTINUE, b"\x01\x00b"
    )
    files = {
        name: xls_file({"成绩汇总": [[Index(0)]]}, sst=table)
        for name, table in (("empty", empty), ("runs", runs))
    }
    assert _opened_apart(files, tmp_path) == {"empty": "damaged", "runs": "damaged"}


def test_an_empty_continue_record_is_an_empty_string_to_the_reader() -> None:
    """The reader takes an empty CONTINUE record between two strings for an
    empty string: the index of every string after it moves by one, and the
    count moves with it."""
    long = struct.pack("<HB", MOST_BODY - 3, 0) + b"x" * (MOST_BODY - 3)
    table = (
        record(SST, struct.pack("<II", 2, 2) + b"\x01\x00\x00a")
        + record(CONTINUE, b"")
        + record(CONTINUE, long)
    )
    data = xls_file({"成绩汇总": [[Index(2)]] * 100}, sst=table)

    opened = open_workbook(data, IntakeLimits())
    assert isinstance(opened, Workbook)
    assert opened.sheets[0].rows[0] == ["x" * (MOST_BODY - 3)]

    refused = open_workbook(data, IntakeLimits(max_cell_text=100 * 8000))
    assert not isinstance(refused, Workbook)
    assert refused.fields["chars"] == 100 * (MOST_BODY - 3)
