"""The caps every upload is held to before and while it is read."""

from __future__ import annotations

from pydantic import Field

from certflow.models import Model

MIB = 1024 * 1024
# Title rows above the header and signature rows below the data are allowed on
# top of the row cap.
LAYOUT_ALLOWANCE = 200


class IntakeLimits(Model):
    """How large an upload may be; a file past any cap is refused, not truncated.

    ``max_uncompressed_bytes`` and ``max_zip_ratio`` apply to the zip-based formats
    (xlsx, ods): the declared size of all members together, and of each member
    against its compressed size. Office suites compress sheet XML about 10 to 30
    times, zip bombs a thousand times and more.

    ``max_unread_cells`` caps the cells of the whole file holding a formula
    saved without its result or a formula error: each is named to the uploader,
    and a few bytes can claim millions of them (an ods cell repeated over a
    whole row, that row repeated down the sheet).

    ``max_cells`` caps the cells an ods's sheets reach together: for each
    sheet, its first row to its last holding content times its first column
    to the farthest holding content, the empty cells between included, as
    the cell reader makes them. It is counted in the file's XML before any
    cell is made (``certflow.intake.extent``): a few bytes can claim
    millions (a cell repeated along a row, the row repeated down), and the
    rows and columns an office suite saves past the table, holding nothing,
    count for nothing. The largest real upload, 20,000 candidates on some 15
    columns, reaches 300,000; a 40-row form reaching the last column
    (16,384) 655,360. An xlsx sheet is held to it too when a cell may stand
    far from A1 (``certflow.intake.sheetstate.xlsx_extents``).
    An xlsx's table of shared strings may hold as many strings: the cell
    reader holds each, whether a cell uses it or not.

    ``max_cell_text`` caps the characters the cell reader copies into the
    cells of all sheets together: it copies a text into every cell showing
    it, so a long text used by many cells (an xlsx's or xls's shared string,
    an ods cell repeated along a row and down a sheet, or an ods run of
    spaces written as one count) costs its length for each. It is counted in
    the file before the reader opens it: a 486 KB xlsx of one
    10,000-character string in 200,000 cells had it hold 4 GB, a 700-byte ods
    abort the process. The largest real upload, 20,000 rows of some 15
    columns of at most a few dozen characters, copies about 6 million.

    ``max_sheets`` caps the sheets of a file: a form has a few. The reader
    reads every sheet of an xls or an ods as it opens the file, and finds
    an xlsx sheet by its name among all the names, so a few MB of sheets
    naming one small sheet held it for gigabytes or minutes; counted in the
    file (an xls's sheet records, an ods's tables) or in the list the
    reader reads first (an xlsx's), before any sheet is read.
    """

    max_bytes: int = Field(default=20 * MIB, gt=0)
    max_rows: int = Field(default=20_000, gt=0)
    max_uncompressed_bytes: int = Field(default=200 * MIB, gt=0)
    max_zip_ratio: int = Field(default=200, gt=0)
    max_unread_cells: int = Field(default=100_000, gt=0)
    max_cells: int = Field(default=1_000_000, gt=0)
    max_cell_text: int = Field(default=20_000_000, gt=0)
    max_sheets: int = Field(default=1000, gt=0)

    @property
    def max_sheet_rows(self) -> int:
        """The most rows a sheet may reach: the row cap and the layout rows."""
        return self.max_rows + LAYOUT_ALLOWANCE
