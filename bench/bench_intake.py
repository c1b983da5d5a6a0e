"""Benchmark of score-summary intake against a bare read and a bare COPY.

A generated summary (10,000 rows; 2,000 with ``--quick``) is parsed and validated
by ``read_score_summary``, and the accepted rows are bulk inserted with COPY into
a temporary schema of the local PostgreSQL. The baseline is a bare calamine read
of the same bytes plus a bare COPY of the same rows. The target is intake at most
twice the baseline; the run exits non-zero when a full run misses it.

The worker reads each upload in a process of its own (``certflow.isolation``):
that path is measured too, beside the others, and its ratio printed, not held
to the target (a process costs the same whatever intake does in it).

    .venv/bin/python -m bench.bench_intake [--quick] [--dsn postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import statistics
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import date
from operator import attrgetter
from typing import Any

import asyncpg
import python_calamine
from openpyxl import Workbook

from certflow.identity import make_resident_id
from certflow.intake import read_score_summary
from certflow.isolation import read_apart
from certflow.models import CandidateScore, Level, PlanInfo

TARGET_RATIO = 2.0
MODULE = "1-1 汽车动力与驱动系统综合分析技术"
# The COPY columns are the fields of CandidateScore, in their declared order.
COLUMNS = list(CandidateScore.model_fields)


def bench_plan() -> PlanInfo:
    """The plan the generated summary belongs to."""
    return PlanInfo(
        plan_id="P2026-1104-0412",
        site_code="HB-WH-0031",
        site_name="武汉市交通职业技术学校",
        certificate="汽车运用与维修",
        level=Level.INTERMEDIATE,
        module_code="1-1",
        module_name="汽车动力与驱动系统综合分析技术",
        exam_end_date=date(2026, 11, 4),
        lead_evaluator_id="ZCX-E-0107",
    )


_SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


def synthetic_name(n: int) -> str:
    """A made-up two- or three-character name (names hold no digits)."""
    given = _GIVEN[n % len(_GIVEN)]
    if n % 3:
        given += _GIVEN[(n // len(_GIVEN)) % len(_GIVEN)]
    return _SURNAMES[n % len(_SURNAMES)] + given


def generate_summary(rows: int) -> bytes:
    """Return an honest xlsx summary of ``rows`` candidates in the template layout."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("成绩汇总")
    sheet.append(
        ["武汉市交通职业技术学校 汽车运用与维修职业技能等级证书（中级）考核成绩汇总表"]
    )
    sheet.append(
        [
            "考试计划编号：P2026-1104-0412  考核站点：武汉市交通职业技术学校"
            "（HB-WH-0031）"
        ]
    )
    sheet.append(
        [
            "序号",
            "姓名",
            "证件类型",
            "证件号码",
            "准考证号",
            "考核模块",
            "理论成绩",
            "实操成绩",
            "总成绩",
            "考试状态",
            "考核结果",
            "备注",
        ]
    )
    for n in range(1, rows + 1):
        theory = 40 + (n * 7) % 60 + (n % 10) / 10
        practical = 45 + (n * 13) % 55 + (n % 4) / 4
        total = round(0.3 * theory + 0.7 * practical + 1e-9, 2)
        passed = theory >= 60 and practical >= 60
        birth = date(1990 + n % 15, 1 + n % 12, 1 + n % 28)
        sheet.append(
            [
                n,
                synthetic_name(n),
                "居民身份证",
                make_resident_id("420106", birth, n),
                f"2026{n:09d}",
                MODULE,
                theory,
                practical,
                total,
                "正常",
                "合格" if passed else "不合格",
                "",
            ]
        )
    sheet.append(["考评员签字："])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def records(rows: list[CandidateScore]) -> list[tuple[Any, ...]]:
    """Return the rows as COPY records in ``COLUMNS`` order."""
    getters = [attrgetter(column) for column in COLUMNS]
    return [tuple(get(row) for get in getters) for row in rows]


def bare_read(data: bytes) -> list[tuple[Any, ...]]:
    """The baseline read: calamine's cells, data rows as tuples, nothing checked."""
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    cells = book.get_sheet_by_index(0).to_python()
    return [
        (
            int(str(row[0]).split(".")[0]),
            row[1],
            "resident_id",
            row[3],
            row[4],
            "1-1",
            row[6],
            row[7],
            row[8],
            "present",
            row[10] == "合格",
            row[11],
        )
        for row in cells[3:-1]
    ]


async def copy_rows(dsn: str, rows: list[tuple[Any, ...]]) -> float:
    """COPY ``rows`` into a fresh temporary schema; return the seconds COPY took."""
    schema = f"bench_intake_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
        await connection.execute(
            f"""CREATE TABLE {schema}.candidate_scores (
                seq integer, name text, id_type text, id_number text,
                admission_number text, module_code text, theory double precision,
                practical double precision, total double precision, status text,
                passed boolean, remark text)"""
        )
        started = time.perf_counter()
        await connection.copy_records_to_table(
            "candidate_scores", schema_name=schema, records=rows, columns=COLUMNS
        )
        elapsed = time.perf_counter() - started
        count = await connection.fetchval(
            f"SELECT count(*) FROM {schema}.candidate_scores"
        )
        assert count == len(rows)
        return elapsed
    finally:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await connection.close()


def median_of(repeat: int, action: Callable[[], Any]) -> tuple[float, Any]:
    """Return the median seconds of ``repeat`` runs of ``action``, and its result."""
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


async def run(rows: int, dsn: str, repeat: int) -> float:
    """Run every measure, print one line each, and return the ratio."""
    plan = bench_plan()
    data = generate_summary(rows)
    print(f"input: {rows} rows, {len(data) / 1024:.0f} KiB xlsx")

    # Interleave the runs so a burst of load on the machine hits both sides.
    intake_times, bare_times, apart_times = [], [], []
    read_apart(read_score_summary, data, plan)  # starts the process server
    for _ in range(repeat):
        intake_s, reading = median_of(1, lambda: read_score_summary(data, plan))
        bare_s, bare = median_of(1, lambda: bare_read(data))
        apart_s, _ = median_of(1, lambda: read_apart(read_score_summary, data, plan))
        intake_times.append(intake_s)
        bare_times.append(bare_s)
        apart_times.append(apart_s)
    if not reading.accepted:
        raise SystemExit(f"generated summary refused: {reading.problems[:3]}")
    intake_s, bare_s = statistics.median(intake_times), statistics.median(bare_times)
    apart_s = statistics.median(apart_times)
    # Turning the accepted rows into COPY records counts as part of persisting.
    convert_s, ours = median_of(repeat, lambda: records(reading.rows))
    persist_times, bare_copy_times = [], []
    for _ in range(repeat):
        persist_times.append(convert_s + await copy_rows(dsn, ours))
        bare_copy_times.append(await copy_rows(dsn, bare))
    persist_s = statistics.median(persist_times)
    bare_copy_s = statistics.median(bare_copy_times)

    tracemalloc.start()
    read_score_summary(data, plan)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ratio = (intake_s + persist_s) / (bare_s + bare_copy_s)
    apart_ratio = (apart_s + persist_s) / (bare_s + bare_copy_s)
    print(f"intake parse+validate: {intake_s * 1000:.0f} ms")
    print(f"the same in a process of its own (the worker's): {apart_s * 1000:.0f} ms")
    print(f"intake records + COPY: {persist_s * 1000:.0f} ms")
    print(f"bare calamine read: {bare_s * 1000:.0f} ms")
    print(f"bare COPY: {bare_copy_s * 1000:.0f} ms")
    print(f"ratio: {ratio:.2f}x (target <= {TARGET_RATIO:.1f}x)")
    print(f"ratio of the worker's path: {apart_ratio:.2f}x")
    print(f"peak Python memory during intake: {peak / 2**20:.1f} MiB")
    print(f"peak resident memory of the process: {max_rss:.0f} MiB")
    return ratio


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows, no gate")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args(argv)
    rows = args.rows or (2_000 if args.quick else 10_000)
    ratio = asyncio.run(run(rows, args.dsn, repeat=5 if args.quick else 9))
    if not args.quick and ratio > TARGET_RATIO:
        print(f"FAILED: ratio {ratio:.2f}x exceeds {TARGET_RATIO:.1f}x")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
