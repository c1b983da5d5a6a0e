"""What the score summary and the sign-in readers share: opening the upload,
choosing the sheet, checking identity cells and spotting repeated values."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from openpyxl.utils import get_column_letter

from certflow.i18n import t
from certflow.identity import (
    ADMISSION_NUMBER_MAX_LENGTH,
    NAME_MAX_LENGTH,
    IdType,
    could_be_id_number,
    is_admission_number,
    parse_id_type,
    validate_id,
)
from certflow.intake.cells import (
    CellValue,
    clean_text,
    compact,
    is_number_cell,
    lost_digits,
    unwrap_text_formula,
)
from certflow.intake.container import Format, Refusal
from certflow.intake.layout import (
    IDENTITY_COLUMNS,
    SYNONYMS,
    Column,
    Table,
    best_partial_match,
    best_partial_row,
    columns_named,
    find_table,
)
from certflow.intake.limits import IntakeLimits
from certflow.intake.metadata import check_metadata
from certflow.intake.vocabulary import STATUS_WORDS
from certflow.intake.workbook import Grid, open_workbook
from certflow.models import ExamStatus, PlanInfo, Problem
from certflow.privacy import mask_id_number, mask_name
from certflow.problem_list import row_ranges
from certflow.text import code_points, halfwidth, hidden_in


def problem(
    code: str,
    *,
    sheet: str | None = None,
    row: int | None = None,
    column: str | None = None,
    value: str | None = None,
    key: str | None = None,
    **fields: object,
) -> Problem:
    """Build a Problem whose message is the catalogue's ``intake.<code>``
    (``intake.<key>`` where one code is said in several ways)."""
    return Problem(
        code=code,
        message=t(f"intake.{key or code}", **fields),
        sheet=sheet,
        row=row,
        column=column,
        value=value,
    )


def refusal_problem(refusal: Refusal) -> Problem:
    """Turn a container refusal into the Problem the uploader sees."""
    line = refusal.fields.get("line")
    return Problem(
        code=refusal.code,
        message=t(f"intake.{refusal.code}", **refusal.fields),
        row=line if isinstance(line, int) else None,
    )


@dataclass
class Located:
    """The sheet and table an upload's rows come from, with notes for the uploader.

    ``merged`` maps each cell (1-based row, 0-based column) that a merged range
    covers and that was left empty to the range as the office suite names it
    (``F4:F35``), so a problem there can say why the cell reads empty.
    ``blank_formulas`` are the cells (1-based row, 0-based column) of blank
    rows whose formula shows no data (see ``_formulas_in_blank_rows``): they
    are no problem, and one note says so, naming the other blank rows too
    (a 以下空白, rows left with their 序号 alone or a template's values).
    """

    grid: Grid
    table: Table
    notes: list[str]
    problems: list[Problem]
    merged: dict[tuple[int, int], str] = field(default_factory=dict)
    blank_formulas: frozenset[tuple[int, int]] = frozenset()


# Columns where one value stands for many rows, so a school merges it down:
# every row a merged range covers takes the value of its first cell.
REPEATED_COLUMNS = frozenset(
    {Column.MODULE, Column.ID_TYPE, Column.STATUS, Column.RESULT, Column.REMARK}
)
# Score cells may be merged over absentees' rows (缺考), or across one row's
# scores: only a status word is taken for every cell, never a number.
_SCORE_COLUMNS = frozenset({Column.THEORY, Column.PRACTICAL, Column.TOTAL})


def locate(
    data: bytes,
    plan: PlanInfo,
    limits: IntakeLimits,
    required: set[Column],
    document: str,
    *,
    reads: frozenset[Column] | None = None,
) -> Located | list[Problem]:
    """Open the upload, pick the sheet whose header has every ``required`` column.

    ``document`` is the Chinese name of what was expected (成绩汇总表, 签到表) for
    the messages. Problems with the title rows are returned with the table.
    ``reads`` are the columns the document's reader takes values from (every
    column when None): two header cells naming one of them refuse the upload.

    Only visible sheets are read: a hidden sheet is seen by nobody who checks
    or signs the summary, so its scores must never replace the visible ones.
    When only a hidden sheet has the header, the upload is refused naming it.
    One visible sheet holds the rows: when several have the header and data
    rows under it (a class split by exam room, a copy), the upload is refused
    naming them; others with the header and no data row (a blank template)
    are named in a note.
    Hidden rows of the data are refused for the same reason, and so are
    hidden columns holding anything from the header down (``_hidden_columns``).
    Rows holding a
    序号 alone are blank below the last candidate and refused among them
    (``_numbered_gaps``); below it, rows naming nobody are blank when they
    hold only what a template fills in and refused when they hold data, and
    so are the rows below a 以下空白 (``_rows_naming_nobody``).
    """
    book = open_workbook(
        data, limits, header=lambda grid: best_partial_match(grid, required) == required
    )
    if isinstance(book, Refusal):
        return [refusal_problem(book)]

    visible = [grid for grid in book.sheets if grid.visible]
    hidden = [grid for grid in book.sheets if not grid.visible]
    candidates = [(grid, find_table(grid, required)) for grid in visible]
    found = [(grid, table) for grid, table in candidates if table is not None]
    if not found:
        concealed = [grid.name for grid in hidden if find_table(grid, required)]
        if concealed:
            return [
                problem(
                    "hidden_sheet",
                    sheet=concealed[0],
                    sheets="、".join(concealed),
                    document=document,
                )
            ]
        return [_missing_columns(visible, required, document)]

    # One sheet holds the list: a class split over two sheets (第一考场,
    # 第二考场) read as one would lose the other's people unsaid, and which
    # of two copies is the signed one no header says.
    listing = [grid.name for grid, table in found if table.data_rows]
    if len(listing) > 1:
        return [
            problem(
                "several_sheets",
                sheet=listing[0],
                sheets="、".join(f"“{name}”" for name in listing),
                document=document,
            )
        ]
    grid, table = max(found, key=lambda pair: len(pair[1].data_rows))
    if repeated := _repeated_columns(table, reads):
        return repeated
    # A CSV file has no sheet: its one grid is only called "CSV".
    notes = [
        t("intake.note_csv_used", document=document)
        if book.format is Format.CSV
        else t("intake.note_sheet_used", sheet=grid.name, document=document)
    ]
    also = [g.name for g, _ in found if g is not grid]
    if also:
        notes.append(
            t("intake.note_other_tables", sheets="、".join(also), document=document)
        )
    others = [g.name for g, table in candidates if table is None]
    if others:
        notes.append(t("intake.note_sheets_ignored", sheets="、".join(others)))
    if hidden:
        notes.append(
            t("intake.note_hidden_sheets", sheets="、".join(g.name for g in hidden))
        )
    grid, merged = _unmerged(grid, table)

    lines = [
        (index + 1, "  ".join(text for text in map(clean_text, row) if text))
        for index, row in enumerate(grid.rows[: table.header_row])
    ]
    problems = [
        _in_its_cell(found, grid)
        for found in check_metadata(
            [line for line in lines if line[1]], plan, grid.name
        )
    ]
    if not table.data_rows:
        problems.append(problem("no_rows", sheet=grid.name, document=document))
    if len(table.data_rows) > limits.max_rows:
        problems.append(
            problem("too_many_rows", sheet=grid.name, limit=limits.max_rows)
        )
    problems.extend(
        problem("hidden_row", sheet=grid.name, row=index + 1)
        for index in table.data_rows
        if index in grid.hidden_rows
    )
    problems.extend(_hidden_columns(grid, table))
    if table.footer_row is not None:
        footer = table.footer_row + 1
        notes.append(t("intake.note_footer_ignored", row=footer))
        problems.extend(
            problem("row_below_footer", sheet=grid.name, row=index + 1, footer=footer)
            for index in table.rows_below_footer
        )
    problems.extend(_numbered_gaps(grid, table))
    problems.extend(_rows_naming_nobody(table))
    blank = _formulas_in_blank_rows(grid, table)
    if blank or table.numbered_blank or table.prefilled_blank or table.end_markers:
        notes.append(_blank_rows_note(table, blank))
    return Located(grid, table, notes, problems, merged, frozenset(blank))


def _hidden_columns(grid: Grid, table: Table) -> list[Problem]:
    """One problem for each hidden column holding something in the table.

    A hidden column, like a hidden row, was seen by nobody who checked or
    signed the sheet on screen or on paper: read, its values would be
    imported unchecked (a 准考证号 or a score column hidden and another
    shown). Between the header and the signature lines (or the sheet's end),
    a cell holding a value, a formula error or a formula without its result
    makes the column refused, by its letter, whether intake reads it or not:
    which column the school meant is not guessed. A hidden column left empty
    (a spacer), or holding only title text, is harmless.
    """
    if not grid.hidden_columns:
        return []
    start = table.header_row
    stop = len(grid.rows) if table.footer_row is None else table.footer_row
    rows = grid.rows[start:stop]
    width = max(map(len, rows), default=0)
    unread = {
        index
        for number, index in (*grid.errors, *grid.uncalculated)
        if start < number <= stop
    }
    header = grid.rows[start]
    found = []
    for index in sorted(c for c in grid.hidden_columns if c < width or c in unread):
        if index not in unread and not any(
            index < len(row) and clean_text(row[index]) for row in rows
        ):
            continue
        letter = get_column_letter(index + 1)
        title = clean_text(header[index]) if index < len(header) else ""
        found.append(
            problem(
                "hidden_column",
                sheet=grid.name,
                row=start + 1,
                column=letter,
                letter=letter,
                header=f"“{title}”" if title else "",
            )
        )
    return found


def _numbered_gaps(grid: Grid, table: Table) -> list[Problem]:
    """One problem for each row holding only its 序号 among the data rows.

    Below the last candidate such rows are what a pre-numbered form leaves
    over, and blank. Above it, the numbering kept a place for someone whose
    row now holds nothing: a candidate's cells cleared by mistake, or an
    absentee left out where the summary should list them as 缺考. The
    consistency review would not tell an absentee missing from both lists,
    so the row is refused, once, rather than read as a blank row or, cell
    by cell, as a candidate with every field empty.
    """
    if not table.numbered_gaps:
        return []
    seq = table.columns[Column.SEQ]
    return [
        problem(
            "numbered_gap",
            sheet=grid.name,
            row=index + 1,
            column=table.headers[Column.SEQ],
            value=compact(grid.rows[index][seq]),
        )
        for index in table.numbered_gaps
    ]


def _rows_naming_nobody(table: Table) -> list[Problem]:
    """One problem for each row that holds data but is no data row.

    Below the last candidate, a row whose name, ID and admission number (or
    staff id) are empty and which holds more than a template fills in (a
    typed score, 考核结果 or 备注, a value typed where the template filled
    another) is nobody's: said once, not a "此项不能为空" per empty cell.
    Below a row saying that nothing follows (以下空白), any row holding
    data, a candidate's included, is refused naming that row. Each problem
    marks the row's first cell of data.
    """
    header = table.headers
    identity = "、".join(header[c] for c in IDENTITY_COLUMNS if c in header)
    found = _each_row(
        table, "row_without_identity", table.unidentified, identity=identity
    )
    if table.end_markers:
        found += _each_row(
            table,
            "row_below_end_marker",
            table.below_end_marker,
            marker=table.end_markers[0] + 1,
            text=table.end_marker_text,
        )
    return found


def _each_row(
    table: Table, code: str, rows: dict[int, Column], **fields: object
) -> list[Problem]:
    """The problem ``code`` of each of ``rows`` (0-based), at its column:
    one message, said alike of every row."""
    message = t(f"intake.{code}", **fields)
    return [
        Problem(
            code=code,
            message=message,
            sheet=table.sheet,
            row=index + 1,
            column=table.headers[column],
        )
        for index, column in rows.items()
    ]


def _formulas_in_blank_rows(grid: Grid, table: Table) -> dict[tuple[int, int], str]:
    """The formula cells of the rows without data, with what each shows.

    Schools drag a VLOOKUP, RANK or AVERAGE down past the last candidate, to
    the signature lines or to the sheet's end: in the rows left blank it
    shows ``#N/A`` or ``#DIV/0!``. Such a row reads as empty, and the table
    skips it; so does a row left with its 序号 alone or what a template
    fills in below the last candidate (``Table.numbered_blank``,
    ``Table.prefilled_blank``) and one saying that nothing follows, not one
    among the candidates or holding data, which is refused with what it
    shows. A cell of the table's columns in a row it skips
    (between the header and the signature lines) is returned when it holds a
    formula error, with the error, or when it is an array formula's cell
    saved without its value (a writer leaving out the empty text), with "":
    no candidate is there. A cell whose own formula was saved without its
    result is not returned: its value is unknown, and a row of them may be a
    candidate's.
    """
    if not (grid.errors or grid.array_uncalculated):
        return {}
    columns = set(table.columns.values())
    read = {
        *table.data_rows,
        *table.numbered_gaps,
        *table.unidentified,
        *table.below_end_marker,
    }
    footer = table.footer_row
    shown = {**dict.fromkeys(grid.array_uncalculated, ""), **grid.errors}
    return {
        (row, index): text
        for (row, index), text in shown.items()
        if index in columns
        and table.header_row < row - 1
        and (footer is None or row - 1 < footer)
        and row - 1 not in read
    }


def _blank_rows_note(table: Table, blank: dict[tuple[int, int], str]) -> str:
    """The one note naming the blank rows, each kind apart, and what the
    formulas of each column show there.

    The rows saying that nothing follows, those holding only a 序号, those
    holding what a template fills in and those holding only formulas
    showing no data are named apart, in the order they first stand, so staff
    reading the note can tell where the school ended its list and how many
    places of the numbering were left unfilled.
    """
    numbered = [index + 1 for index in table.numbered_blank]
    prefilled = [index + 1 for index in table.prefilled_blank]
    markers = [index + 1 for index in table.end_markers]
    formulas = sorted({row for row, _ in blank} - {*numbered, *prefilled, *markers})
    kinds = [
        (markers, "intake.note_end_marker"),
        (numbered, "intake.note_numbered_rows"),
        (prefilled, "intake.note_prefilled_rows"),
        (formulas, "intake.note_formula_rows"),
    ]
    rows = [
        t(key, rows=row_ranges(found), text=table.end_marker_text)
        for found, key in sorted((k for k in kinds if k[0]), key=lambda k: k[0][0])
    ]
    shown: dict[int, list[str]] = {}
    for (_, index), text in sorted(blank.items()):
        texts = shown.setdefault(index, [])
        text = text or t("intake.note_array_without_result")
        if text not in texts:
            texts.append(text)
    header = {index: table.headers[column] for column, index in table.columns.items()}
    columns = "，".join(
        t("intake.note_formula_column", column=header[index], shown="、".join(texts))
        for index, texts in sorted(shown.items())
    )
    return t(
        "intake.note_blank_rows",
        rows="、".join(rows),
        shown=t("intake.note_formulas_shown", columns=columns) if columns else "",
    )


def _repeated_columns(table: Table, reads: frozenset[Column] | None) -> list[Problem]:
    """One problem for each further header cell naming a column already named.

    Two columns of one meaning (理论成绩（初评） and 理论成绩（复核）) leave the
    reader to pick one of two scores, and no header word says for sure which
    the evaluators signed: the upload is refused naming both columns, whatever
    their values, rather than reading the first.
    """
    found = []
    for column, others in table.repeated.items():
        if reads is not None and column not in reads:
            continue
        first = table.columns[column]
        for position, header in others:
            found.append(
                problem(
                    "repeated_column",
                    sheet=table.sheet,
                    row=table.header_row + 1,
                    column=get_column_letter(position + 1),
                    letter=get_column_letter(position + 1),
                    header=header,
                    first_letter=get_column_letter(first + 1),
                    first_header=table.headers[column],
                    meaning=SYNONYMS[column][0],
                )
            )
    return found


def _unmerged(grid: Grid, table: Table) -> tuple[Grid, dict[tuple[int, int], str]]:
    """The grid with merged values spread where a value naturally repeats.

    A merged range keeps its value in its first cell; the cells it covers read
    as empty. Below the header, a covered cell of a ``REPEATED_COLUMNS`` column
    (or a score cell, when the value is a status word such as 缺考) takes the
    first cell's value. Any other covered cell stays empty and is returned,
    with its range, for the problem there to name the merge.
    """
    if not grid.merged:
        return grid, {}
    role = {index: column for column, index in table.columns.items()}
    rows = grid.rows
    copied: set[int] = set()
    left: dict[tuple[int, int], str] = {}
    uncovered: dict[int, dict[int, int]] = {}
    for first_row, first_column, last_row, last_column in grid.merged:
        if first_row <= table.header_row or first_row >= len(rows):
            continue  # a title or header merge: nothing of the data
        top = rows[first_row]
        value = top[first_column] if first_column < len(top) else ""
        word = STATUS_WORDS.get(compact(value))
        status_word = word is not None and word is not ExamStatus.PRESENT
        reference = (
            f"{get_column_letter(first_column + 1)}{first_row + 1}:"
            f"{get_column_letter(last_column + 1)}{last_row + 1}"
        )
        # Only the table's columns within the range, and each of their cells
        # once for the whole sheet: a 26-byte ``A40:XFD20000`` was stepped
        # through 16,384 columns of 20,000 rows (35 s of CPU), and ranges
        # laid over one another (no office suite writes them) went through
        # their cells again each. A cell a range covered before (its first
        # cell included) is left as that range made it.
        last = min(last_row, len(rows) - 1)
        for position in sorted(p for p in role if first_column <= p <= last_column):
            column = role[position]
            free = uncovered.setdefault(position, {})
            index = _next_uncovered(free, first_row)
            while index <= last:
                free[index] = index + 1
                if (index, position) == (first_row, first_column):
                    pass
                elif column in REPEATED_COLUMNS or (
                    column in _SCORE_COLUMNS and status_word
                ):
                    if index not in copied:
                        rows = rows if copied else list(rows)
                        rows[index] = list(rows[index])
                        copied.add(index)
                    row = rows[index]
                    row.extend([""] * (position + 1 - len(row)))
                    row[position] = value
                else:
                    left[(index + 1, position)] = reference
                index = _next_uncovered(free, index + 1)
    return (replace(grid, rows=rows) if copied else grid), left


def _next_uncovered(free: dict[int, int], index: int) -> int:
    """The first row from ``index`` down that no range has covered in a
    column, ``free`` mapping each covered row to a row below it to look at
    next (shortened on the way, so each row is stepped over about once)."""
    start = index
    while index in free:
        index = free[index]
    while start in free and free[start] != index:
        free[start], start = index, free[start]
    return index


def _in_its_cell(found: Problem, grid: Grid) -> Problem:
    """A title-row problem with the column letter of the cell stating the value."""
    if found.row is None or not found.value or found.column is not None:
        return found
    for index, cell in enumerate(grid.rows[found.row - 1]):
        if found.value in halfwidth(clean_text(cell)):
            return found.model_copy(update={"column": get_column_letter(index + 1)})
    return found


def _missing_columns(
    sheets: list[Grid], required: set[Column], document: str
) -> Problem:
    best: set[Column] = set()
    best_sheet = None
    for grid in sheets:
        partial = best_partial_match(grid, required)
        if len(partial) >= max(len(best), 1):
            best, best_sheet = partial, grid.name
    if not best:
        return problem("no_header", document=document)
    missing = "、".join(SYNONYMS[c][0] for c in sorted(required - best))
    split = _header_split(sheets, best_sheet, required, best)
    if split is not None:
        return split
    # Another document is named only when no sheet has the uploaded one's
    # own telling columns: a summary with a score column and a 考评员签名 is
    # a summary missing a column, not a candidates' sign-in sheet. The sheet
    # closest to the expected header is judged first.
    ordered = sorted(sheets, key=lambda grid: grid.name != best_sheet)
    if not any(_tells_itself(grid, document) for grid in ordered):
        other = _other_document(ordered, document, missing)
        if other is not None:
            return other
    return problem(
        "missing_columns", sheet=best_sheet, columns=missing, document=document
    )


def _header_split(
    sheets: list[Grid], name: str | None, required: set[Column], named: set[Column]
) -> Problem | None:
    """A header written over two rows (成绩 merged above 理论 | 实操 | 总分):
    the columns the header row misses are named in the row below it."""
    grid = next((grid for grid in sheets if grid.name == name), None)
    if grid is None:
        return None
    index, _ = best_partial_row(grid, required)
    if index + 1 >= len(grid.rows):
        return None
    below = columns_named(grid.rows[index + 1], required - named)
    if not below:
        return None
    return problem(
        "header_two_rows",
        sheet=grid.name,
        row=index + 2,
        first=index + 1,
        second=index + 2,
        columns="、".join(f"“{SYNONYMS[c][0]}”" for c in sorted(below)),
    )


def _other_document(sheets: list[Grid], document: str, missing: str) -> Problem | None:
    """The first sheet's header telling another document, said with its upload."""
    other = looks_like_other(sheets, document)
    if other is None:
        return None
    return problem(
        "looks_like_other",
        sheet=other.sheet,
        columns=missing,
        document=document,
        other=other.document,
        upload=other.upload,
        evidence=other.evidence,
    )


@dataclass(frozen=True)
class OtherDocument:
    """What an uploaded file looks like instead of the document asked for:
    the sheet saying so, the document's name (成绩汇总表), its upload
    (``certflow upload summary``'s ``summary``) and the columns that tell it,
    as a message names them (“实操成绩”、“总成绩”)."""

    sheet: str
    document: str
    upload: str
    evidence: str


def looks_like_other(sheets: list[Grid], document: str) -> OtherDocument | None:
    """The first of ``sheets`` whose header tells a document other than
    ``document`` (the Chinese name of the one asked for): a score summary,
    either sign-in sheet; None when none does."""
    for grid in sheets:
        other = _looks_like(grid, document)
        if other is not None:
            key, upload, evidence = other
            return OtherDocument(
                sheet=grid.name,
                document=t(f"intake.{key}"),
                upload=upload,
                evidence="、".join(f"“{SYNONYMS[c][0]}”" for c in evidence),
            )
    return None


# The documents an upload may be mistaken for, told by their header: the
# catalogue key of the document, the upload it belongs to (``certflow upload
# …``) and the columns that tell it, each group by one column at least. A
# summary has score columns; an evaluators' sheet a staff id; a candidates'
# sheet admission numbers and a sign-in column (a summary has the first).
_LOOKALIKES: tuple[tuple[str, str, tuple[tuple[Column, ...], ...]], ...] = (
    (
        "document_summary",
        "summary",
        ((Column.NAME,), (Column.PRACTICAL, Column.THEORY, Column.TOTAL)),
    ),
    ("document_evaluator_sign_in", "evaluators", ((Column.NAME,), (Column.STAFF_ID,))),
    (
        "document_candidate_sign_in",
        "candidates",
        (
            (Column.NAME,),
            (Column.ADMISSION_NUMBER,),
            (Column.SIGNATURE, Column.SIGN_TIME),
        ),
    ),
)
_TELLING = frozenset(c for _, _, groups in _LOOKALIKES for g in groups for c in g)


def _tells_itself(grid: Grid, document: str) -> bool:
    """Whether ``grid``'s header has ``document``'s own telling columns, one of
    each group but the name's (a candidates' sheet needs both an admission
    number and a sign-in column: a summary has the one, an evaluators' sheet
    the other)."""
    named = best_partial_match(grid, set(_TELLING))
    return any(
        t(f"intake.{key}") == document
        and all(any(c in named for c in group) for group in groups[1:])
        for key, _, groups in _LOOKALIKES
    )


def _looks_like(grid: Grid, document: str) -> tuple[str, str, list[Column]] | None:
    """The other document ``grid``'s header says it is, if any: its catalogue
    key, its upload and the telling columns (the name column left out)."""
    named = best_partial_match(grid, set(_TELLING))
    for key, upload, groups in _LOOKALIKES:
        found = [[c for c in group if c in named] for group in groups]
        if all(found) and t(f"intake.{key}") != document:
            return key, upload, [group[0] for group in found[1:]]
    return None


def name_too_long(
    name: str, *, sheet: str, row: int, column: str | None
) -> Problem | None:
    """Refuse a name longer than any real one: a note or a pasted row, not a name."""
    if len(name) <= NAME_MAX_LENGTH:
        return None
    return problem(
        "name_too_long",
        sheet=sheet,
        row=row,
        column=column,
        value=f"{mask_name(name[:8])}…",
        length=len(name),
        limit=NAME_MAX_LENGTH,
    )


def bad_admission_number(
    admission: str, *, sheet: str, row: int, column: str | None
) -> Problem | None:
    """Refuse an admission number that no correction request could ever name.

    The rule is the correction reader's own (``certflow.identity``), so every
    accepted candidate can have a score correction filed and matched.
    """
    if not admission:
        return None
    if could_be_id_number(admission):
        # A column filled with the ID numbers, or one pasted in the wrong cell:
        # an ID number is never kept as an admission number (it would travel
        # into corrections, their mails and the plan's history unmasked).
        return problem(
            "admission_is_id_number",
            sheet=sheet,
            row=row,
            column=column,
            value=mask_id_number(admission),
        )
    if is_admission_number(admission):
        return None
    shown = admission if len(admission) <= 24 else f"{admission[:24]}…"
    return problem(
        "bad_admission_number",
        sheet=sheet,
        row=row,
        column=column,
        value=shown,
        limit=ADMISSION_NUMBER_MAX_LENGTH,
    )


@dataclass
class Duplicates:
    """Remembers where each value was first seen, to name it on a later repeat."""

    seen: dict[str, int] = field(default_factory=dict)

    def earlier(self, value: str, row: int) -> int | None:
        """Return the row where ``value`` first appeared, recording it if new."""
        if not value:
            return None
        first = self.seen.setdefault(value, row)
        return None if first == row else first


def read_id(
    table: Table,
    type_cell: CellValue,
    raw: CellValue,
    row: int,
    today: date,
    *,
    optional: bool = False,
) -> tuple[IdType | None, str, list[Problem]]:
    """Read and check the identity document of one row.

    ``type_cell`` and ``raw`` are the row's 证件类型 and 证件号码 cells. Returns
    the type, the normalised number ("" when refused or absent) and the
    problems. A number the spreadsheet stored as a number is refused outright:
    its last digits are gone and are never guessed back. A number kept as
    text by Excel's ``="…"`` is read as the digits between the quotes.
    """
    sheet = table.sheet
    type_header = table.headers.get(Column.ID_TYPE)
    number_header = table.headers.get(Column.ID_NUMBER)
    type_text = clean_text(type_cell)
    raw = unwrap_text_formula(raw)
    number = compact(raw).upper()

    kind = parse_id_type(type_text)
    if kind is None:
        found = problem(
            "unknown_id_type", sheet=sheet, row=row, column=type_header, value=type_text
        )
        return None, "", [found]
    if not number:
        if optional:
            return kind, "", []
        return (
            kind,
            "",
            [problem("missing_value", sheet=sheet, row=row, column=number_header)],
        )
    if is_number_cell(raw) or lost_digits(raw):
        found = problem(
            "id_stored_as_number",
            sheet=sheet,
            row=row,
            column=number_header,
            value=mask_id_number(clean_text(raw)),
        )
        return kind, "", [found]
    if hidden := hidden_in(number):
        # Said so: the number shown masked, without them, looks whole.
        found = problem(
            "id_hidden_characters",
            sheet=sheet,
            row=row,
            column=number_header,
            value=mask_id_number(number),
            chars=code_points(hidden),
        )
        return kind, "", [found]
    reason = validate_id(kind.value, number, today=today)
    if reason is not None:
        found = Problem(
            code=reason,
            message=t(f"identity.{reason}"),
            sheet=sheet,
            row=row,
            column=number_header,
            value=mask_id_number(number),
        )
        return kind, "", [found]
    return kind, number, []


def formula_without_result(sheet: str | None, row: int | None, column: str) -> Problem:
    """The problem of a cell holding a formula whose result the file does not keep.

    Every reader of uploaded workbooks reports such a cell with this one
    problem, located as its other problems are (``Grid.uncalculated`` says
    which cells they are): the cell reads as empty, though the sender sees a
    value in it.
    """
    return problem("formula_without_result", sheet=sheet, row=row, column=column)


def formula_error(
    sheet: str | None, row: int | None, column: str, error: str
) -> Problem:
    """The problem of a cell holding a formula error (``#N/A``, ``#DIV/0!``).

    The cell reads as empty, though the sender sees the error there; the
    problem names the error (``Grid.errors`` says which cells they are).
    """
    return problem(
        "formula_error", sheet=sheet, row=row, column=column, value=error, error=error
    )


def explain_empty_cells(located: Located, problems: list[Problem]) -> list[Problem]:
    """Say so where a cell read as empty is not really empty.

    A cell holding a formula saved without its result, or a formula error
    (#N/A, #DIV/0!), is a problem wherever the table is read (the title rows,
    the header, the data rows' columns), whatever else was found: its value
    was never read. A problem said of such a cell ("may not be empty") is
    replaced by it. An error, or an array formula's cell without its value,
    in a row holding no data is none (``Located.blank_formulas``).

    A cell covered by a merged range (its value is in the range's first cell)
    reads as empty too, so its problem would read "may not be empty" of a cell
    that is not: it names the range instead.
    """
    problems = _unread_cells(located, problems)
    if not problems:
        return problems
    table = located.table
    column_of = {header: table.columns[c] for c, header in table.headers.items()}
    return [_merged(found, located, column_of) for found in problems]


def _unread_cells(located: Located, problems: list[Problem]) -> list[Problem]:
    """``problems`` with every cell the table reads whose value was not read:
    a formula saved without its result, or a formula error.

    The rows between the header and the signature lines are read in the
    table's columns, those that read as empty too (a row of such formulas
    would be skipped as empty, a candidate lost); the title rows and the
    header in every column (a title-row cell is named by its letter, as the
    title-row problems name theirs). What was said of those cells is dropped:
    it was said of an empty reading. The formulas of blank rows that show no
    data are left out.
    """
    grid, table = located.grid, located.table
    if not (grid.uncalculated or grid.errors):
        return problems
    blank = located.blank_formulas
    role = {index: column for column, index in table.columns.items()}
    header_row = table.header_row + 1
    footer_row = None if table.footer_row is None else table.footer_row + 1

    def column(row: int, index: int) -> str | None:
        if row <= header_row:
            letter: str = get_column_letter(index + 1)
            return letter
        if (footer_row is None or row < footer_row) and index in role:
            return table.headers[role[index]]
        return None

    found = []
    for row, index in sorted({*grid.uncalculated, *grid.errors}):
        where = column(row, index)
        if where is None or (row, index) in blank:
            continue
        error = grid.errors.get((row, index))
        if error is None:
            found.append(formula_without_result(grid.name, row, where))
        else:
            found.append(formula_error(grid.name, row, where, error))
    if not found:
        return problems
    cells = {(f.row, f.column) for f in found}
    kept = [
        p for p in problems if p.sheet != grid.name or (p.row, p.column) not in cells
    ]
    return sorted([*kept, *found], key=lambda p: p.row or 0)


_EMPTY_CELL_CODES = frozenset({"missing_value", "score_missing"})


def _merged(found: Problem, located: Located, column_of: dict[str, int]) -> Problem:
    if found.code not in _EMPTY_CELL_CODES or found.sheet != located.table.sheet:
        return found
    index = column_of.get(found.column or "")
    reference = located.merged.get((found.row or 0, index or 0))
    if index is None or reference is None:
        return found
    return problem(
        "merged_cell",
        sheet=found.sheet,
        row=found.row,
        column=found.column,
        range=reference,
        first=reference.split(":")[0],
    )
