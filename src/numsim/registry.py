"""NumberRegistry: the system of record for numbers and template pools, in SQLite."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal, NamedTuple

from .bulk import (
    COLUMNS,
    TEMPLATE_SEPARATOR,
    ImportReport,
    ParsedRow,
    RowError,
    frame_rows,
    parse_rows,
    read_csv_rows,
    write_csv,
)
from .errors import InvalidRequestError, RegistryError, UnknownNumberError, UnknownTemplateError
from .numbers import (
    NUMBER_FIELDS,
    SETTINGS,
    OutboundNumber,
    Setting,
    Template,
    check_template_id,
    plain,
)
from .phone import normalize_e164
from .validation import whole

OnExisting = Literal["error", "update", "skip"]

_NUMBER_COLUMNS = NUMBER_FIELDS
_FLAGS = tuple(s.name for s in SETTINGS if s.kind == "flag")
# Settings an empty cell cannot clear in an update (they have no "none": channels).
_NEEDS_VALUE = frozenset(s.name for s in SETTINGS if s.kind == "whole" and not s.optional)
_KEEPS_VALUE = "is empty: this setting cannot be cleared; give a value or leave the column out"
_PROVIDER = NUMBER_FIELDS.index("provider")
_IMPORT_BATCH = 500  # rows written per statement; also the IN (...) list of a batch
LOG_KEPT = 200_000  # changes the change log keeps (trimmed when twice as long)
# A number's templates, as one text cell (a column of a SELECT over numbers n).
_TEMPLATES = (
    f"(SELECT group_concat(template, '{TEMPLATE_SEPARATOR}') "
    "FROM (SELECT template FROM assignments a WHERE a.e164 = n.e164 ORDER BY template))"
)


def _provider_move(
    old: str, new: object, held: Mapping[str, object], given: Collection[str]
) -> str | None:
    """Why a change of provider is refused, or None: the number would keep the other
    provider's account and credentials (a Twilio SID and token under Plivo), so its
    calls and webhooks would fail. The change gives them (or, in a file, clears them)."""
    if new == old:
        return None
    kept = [name for name, value in held.items() if name not in given and value is not None]
    if not kept:
        return None
    what = " and ".join(kept)
    return (
        f"moves from {old} to {new} but would keep the {old} {what}: "
        f"give the {new} {what} in the same change"
    )


class Changes(NamedTuple):
    """What changed in a registry since a change count (see changes_since)."""

    change_count: int  # the change count they bring the reader to
    rows: list[dict[str, object]]  # the changed numbers, as NumberRegistry.rows gives them
    removed: list[str]  # numbers no longer registered


def _schema_v1(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE numbers (
            e164 TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            max_concurrent_calls INTEGER NOT NULL CHECK (max_concurrent_calls >= 1),
            max_calls_per_hour INTEGER CHECK (max_calls_per_hour >= 1),
            max_calls_per_day INTEGER CHECK (max_calls_per_day >= 1),
            trai_registered INTEGER NOT NULL DEFAULT 0,
            stir_shaken_attested INTEGER NOT NULL DEFAULT 0,
            account TEXT,
            credentials TEXT,
            label TEXT,
            updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
        );
        CREATE TABLE assignments (
            template TEXT NOT NULL,
            e164 TEXT NOT NULL REFERENCES numbers (e164),
            PRIMARY KEY (template, e164)
        );
        CREATE INDEX assignments_by_number ON assignments (e164);
        """,
    )


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, and migrations run inside one transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _change_log_v2(db: sqlite3.Connection) -> None:
    """The change log: one row per change to a number or its templates, removals
    included, numbered in commit order (AUTOINCREMENT: never reused). A reader that
    remembers the last id it has seen reads only what changed since (changes_since).
    Triggers write it, so no write path can forget it; but for a number joining a
    template, which NumberRegistry._assign logs (a trigger on that insert doubled the
    cost of a 1,000,000-row import, whose numbers the triggers log already)."""
    db.execute("CREATE TABLE changes (id INTEGER PRIMARY KEY AUTOINCREMENT, e164 TEXT NOT NULL)")
    for table, event, row in (
        ("numbers", "INSERT", "NEW"),
        ("numbers", "UPDATE", "NEW"),
        ("numbers", "DELETE", "OLD"),
        ("assignments", "DELETE", "OLD"),
    ):
        db.execute(  # one statement: _run_script would split the trigger's body
            f"CREATE TRIGGER {table}_{event.lower()}_logged AFTER {event} ON {table} "
            f"BEGIN INSERT INTO changes (e164) VALUES ({row}.e164); END"
        )


# Index i migrates a database from schema version i to i + 1. Append; never edit.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_schema_v1, _change_log_v2)
SCHEMA_VERSION = len(MIGRATIONS)


def _add_setting_columns(db: sqlite3.Connection) -> None:
    """A column for each setting the numbers table lacks (a setting declared since the
    file was written): a new setting needs no migration step of its own. Older numsims
    keep working on the file; they leave the new columns at their defaults."""
    have = {row[1] for row in db.execute("PRAGMA table_info(numbers)")}
    for spec in SETTINGS:
        if spec.name not in have:
            db.execute(f"ALTER TABLE numbers ADD COLUMN {_column(spec)}")


def _column(spec: Setting) -> str:
    """A setting's column definition (e164 and provider are in every schema already)."""
    if spec.kind == "flag":
        return f"{spec.name} INTEGER NOT NULL DEFAULT {int(spec.default)}"
    if spec.kind != "whole":
        return f"{spec.name} TEXT"
    check = f"CHECK ({spec.name} >= {spec.minimum})"
    if spec.optional:
        return f"{spec.name} INTEGER {check}"
    return f"{spec.name} INTEGER NOT NULL DEFAULT {spec.default} {check}"


class NumberRegistry:
    """Numbers and their template assignments, in a SQLite file or ``":memory:"``.

    Safe to share between threads (one connection behind a lock); several
    processes may open the same file (WAL mode, waits up to `timeout` seconds on a
    database another process is writing). With ``create=False`` a missing file is
    an error instead of a new empty registry. Every SQLite failure (a missing
    directory, a file that is not a registry, a lock held too long) is a
    RegistryError naming the file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        create: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.path = os.fspath(path)
        self._timeout = timeout
        self._lock = threading.RLock()
        self._closed = False
        if not self.path.strip():
            raise RegistryError("the registry path is empty; name a file, or ':memory:'")
        if not create and self.path != ":memory:" and not os.path.exists(self.path):
            raise RegistryError(f"registry {self.path} does not exist")
        with self._sqlite_errors():
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, timeout=timeout, isolation_level=None
            )
            self._db.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            self._migrate()

    # -- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._closed = True

    def __enter__(self) -> NumberRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ping(self) -> None:
        """RegistryError unless the registry can be read now, without waiting for this
        object's own writes: a file is read on a connection of its own (in WAL mode a
        reader never waits for the writer), so a readiness probe answers during a long
        import. (":memory:" has no other connection: it waits.)"""
        if self._closed:
            raise RegistryError(f"registry {self.path} is closed")
        if self.path == ":memory:":
            with self._reading():
                self._db.execute("SELECT 1 FROM numbers LIMIT 1").fetchall()
            return
        with self._sqlite_errors():
            uri = Path(self.path).absolute().as_uri() + "?mode=ro"
            probe = sqlite3.connect(uri, uri=True, timeout=self._timeout)
            try:
                probe.execute("SELECT 1 FROM numbers LIMIT 1").fetchall()
            finally:
                probe.close()

    @property
    def schema_version(self) -> int:
        with self._reading():
            return self._db.execute("PRAGMA user_version").fetchone()[0]

    def data_version(self) -> int:
        """Changes when another connection (another process) commits to the file, not on
        this object's own writes: a cheap "re-read?" test for long-running readers."""
        with self._reading():
            return self._db.execute("PRAGMA data_version").fetchone()[0]

    # -- numbers -------------------------------------------------------------------

    def add(self, number: OutboundNumber, *, templates: Iterable[str] = ()) -> None:
        """Add a new number (refused if present: use update) and assign it to templates."""
        template_ids = [check_template_id(t) for t in templates]
        with self._transaction() as db:
            if self._exists(db, number.e164):
                raise RegistryError(f"{number.e164} is already in the registry; use update")
            self._insert(db, [plain(number)])
            self._assign(db, number.e164, template_ids)

    def update(
        self, e164: str, *, templates: Iterable[str] | None = None, **changes: object
    ) -> OutboundNumber:
        """Change a number's settings (limits, flags, account...); returns the new number.
        With `templates`, the number's pools become exactly those, in the same
        transaction: a form that edits both saves all of it or nothing."""
        if "e164" in changes:
            raise InvalidRequestError("the e164 of a number cannot change; use rotate")
        wanted = None if templates is None else [check_template_id(t) for t in templates]
        with self._transaction() as db:
            current = self._get(db, normalize_e164(e164))
            values = {name: getattr(current, name) for name in _NUMBER_COLUMNS}
            unknown = set(changes) - set(values)
            if unknown:
                raise InvalidRequestError(f"unknown setting(s) {', '.join(sorted(unknown))}")
            held = {"account": current.account, "credentials": current.credentials}
            values.update(changes)
            updated = OutboundNumber(**values)
            moved = _provider_move(current.provider.value, updated.provider.value, held, changes)
            if moved:
                raise InvalidRequestError(f"{updated.e164} {moved}")
            self._update(db, [plain(updated)])
            if wanted is not None:
                have = self._templates_of(db, updated.e164)
                db.executemany(
                    "DELETE FROM assignments WHERE template = ? AND e164 = ?",
                    [(t, updated.e164) for t in have if t not in wanted],
                )
                self._assign(db, updated.e164, [t for t in wanted if t not in have])
            return updated

    def remove(self, e164: str, *, force: bool = False) -> None:
        """Remove a number; refused while a template uses it, unless `force`."""
        with self._transaction() as db:
            number = self._get(db, normalize_e164(e164)).e164
            used_by = self._templates_of(db, number)
            if used_by and not force:
                raise RegistryError(
                    f"{number} is used by template(s) {', '.join(used_by)}; "
                    "unassign it first or remove with force"
                )
            db.execute("DELETE FROM assignments WHERE e164 = ?", (number,))
            db.execute("DELETE FROM numbers WHERE e164 = ?", (number,))

    def get(self, e164: str) -> OutboundNumber:
        with self._reading():
            return self._get(self._db, normalize_e164(e164))

    def numbers(self) -> list[OutboundNumber]:
        """Every number, ordered by E.164."""
        with self._reading():
            rows = self._db.execute(f"SELECT {_select()} FROM numbers ORDER BY e164").fetchall()
        return [_number(row) for row in rows]

    def __contains__(self, e164: object) -> bool:
        try:
            number = normalize_e164(e164)
        except ValueError:
            return False
        with self._reading():
            return self._exists(self._db, number)

    def __len__(self) -> int:
        with self._reading():
            return self._db.execute("SELECT count(*) FROM numbers").fetchone()[0]

    # -- templates -----------------------------------------------------------------

    def assign(self, template: str, numbers: Iterable[str]) -> None:
        """Add numbers to a template's pool (numbers already there stay)."""
        template = check_template_id(template)
        wanted = [normalize_e164(n) for n in numbers]
        with self._transaction() as db:
            for e164 in wanted:
                self._get(db, e164)
                self._assign(db, e164, [template])

    def unassign(self, template: str, numbers: Iterable[str]) -> None:
        """Take numbers out of a template's pool."""
        wanted = [normalize_e164(n) for n in numbers]
        with self._transaction() as db:
            self._require_template(db, template)
            for e164 in wanted:
                gone = db.execute(
                    "DELETE FROM assignments WHERE template = ? AND e164 = ?", (template, e164)
                )
                if gone.rowcount == 0:
                    raise RegistryError(f"{e164} is not in template {template!r}")

    def templates(self) -> dict[str, Template]:
        """Every template that has numbers, with its pool."""
        with self._reading():
            rows = self._db.execute(
                "SELECT template, e164 FROM assignments ORDER BY template, e164"
            ).fetchall()
        pools: dict[str, list[str]] = {}
        for template, e164 in rows:
            pools.setdefault(template, []).append(e164)
        return {t: Template(t, tuple(pool)) for t, pool in pools.items()}

    def pool(self, template: str) -> list[OutboundNumber]:
        """The numbers a template may call from."""
        with self._reading():
            self._require_template(self._db, template)
            rows = self._db.execute(
                f"SELECT {_select('n.')} FROM numbers n JOIN assignments a USING (e164) "
                "WHERE a.template = ? ORDER BY n.e164",
                (template,),
            ).fetchall()
        return [_number(row) for row in rows]

    def templates_of(self, e164: str) -> list[str]:
        with self._reading():
            return self._templates_of(self._db, normalize_e164(e164))

    def rotate(self, old: str, new: str | OutboundNumber) -> list[str]:
        """Swap `old` for `new` in every template using `old`, in one transaction.

        `new` may be a number already in the registry, or an OutboundNumber to add.
        `old` stays registered (unassigned). Returns the templates changed. Refused
        when `new` is already in one of those templates: that pool would shrink.
        """
        old = normalize_e164(old)
        with self._transaction() as db:
            self._get(db, old)
            if isinstance(new, OutboundNumber):
                if not self._exists(db, new.e164):
                    self._insert(db, [plain(new)])
                new_e164 = new.e164
            else:
                new_e164 = self._get(db, normalize_e164(new)).e164
            if new_e164 == old:
                raise InvalidRequestError(f"cannot rotate {old} into itself")
            templates = self._templates_of(db, old)
            shared = sorted(set(templates) & set(self._templates_of(db, new_e164)))
            if shared:  # the swap would merge two members into one: the pool shrinks
                raise RegistryError(
                    f"cannot rotate {old} into {new_e164}: {new_e164} is already in "
                    f"template(s) {', '.join(shared)}, which would lose a number"
                )
            db.execute("DELETE FROM assignments WHERE e164 = ?", (old,))
            self._assign(db, new_e164, templates)
            return templates

    # -- bulk ----------------------------------------------------------------------

    def import_csv(
        self,
        source: str | os.PathLike[str] | IO[str] | IO[bytes],
        *,
        on_existing: OnExisting = "error",
    ) -> ImportReport:
        """Import numbers from a CSV file (path or open file); see README for columns.

        Every good row lands; each bad row is reported with its line and reason.
        A number already registered is reported (``on_existing="error"``), or
        updated, or skipped, as asked. An update is a PATCH: it changes the settings
        the file has columns for (an empty cell clears its setting), keeps the others,
        and adds the row's templates.
        """
        return self._import(read_csv_rows(source), on_existing)

    def import_dataframe(self, frame: object, *, on_existing: OnExisting = "error") -> ImportReport:
        """Like import_csv, from a pandas DataFrame with the same columns."""
        return self._import(frame_rows(frame), on_existing)

    def import_rows(
        self, rows: Iterable[tuple[int, dict[str, str]]], *, on_existing: OnExisting = "error"
    ) -> ImportReport:
        """Like import_csv, from (position, {column: text}) pairs already read (a JSON
        list, say): each bad row is reported by its position."""
        return self._import(rows, on_existing)

    def export_csv(self, target: str | IO[str]) -> int:
        """Write every number as CSV, streamed (credentials as references only); returns rows."""
        if isinstance(target, str):
            with open(target, "w", encoding="utf-8", newline="") as handle:
                return write_csv(self.rows(), handle)
        return write_csv(self.rows(), target)

    def change_count(self) -> int:
        """The change log's position: it grows with every change, by any process."""
        with self._reading():
            return _change_count(self._db)

    def changes_since(self, seen: int) -> Changes | None:
        """What changed after change count `seen` (by any process), read in one snapshot:
        the changed numbers' rows (as rows() gives them) and the numbers removed. Costs
        what changed, not the registry's size. None if the log no longer reaches back
        to `seen` (it keeps the last LOG_KEPT changes), or `seen` is ahead of it (the
        file was replaced, say restored from a backup): read everything instead."""
        changed = "(SELECT DISTINCT e164 FROM changes WHERE id > ?) c"
        query = (  # CROSS JOIN: from the few changed to the numbers, never a scan of these
            f"SELECT {_select('n.')}, {_TEMPLATES} FROM {changed} "
            "CROSS JOIN numbers n ON n.e164 = c.e164"
        )
        removed = (
            f"SELECT c.e164 FROM {changed} "
            "WHERE NOT EXISTS (SELECT 1 FROM numbers n WHERE n.e164 = c.e164)"
        )
        with self._reading():
            self._db.execute("BEGIN")  # one snapshot: the count and the rows agree
            try:
                count = _change_count(self._db)
                oldest = self._db.execute("SELECT min(id) FROM changes").fetchone()[0]
                if not (count if oldest is None else oldest - 1) <= seen <= count:
                    return None  # trimmed away, or a count of another file (a restore)
                rows = [_row(row) for row in self._db.execute(query, (seen,))]
                gone = [e164 for (e164,) in self._db.execute(removed, (seen,))]
            finally:
                self._db.execute("COMMIT")
        return Changes(count, rows, gone)

    def rows(self, template: str | None = None) -> Iterator[dict[str, object]]:
        """Every number (or a template's pool) as a dict of the CSV columns, typed
        (templates a list), in E.164 order. Streamed: the registry stays locked for
        this thread until the iteration ends."""
        pool = "JOIN assignments p ON p.e164 = n.e164 AND p.template = ? " if template else ""
        query = f"SELECT {_select('n.')}, {_TEMPLATES} FROM numbers n {pool}ORDER BY n.e164"
        with self._reading():
            if template is not None:
                self._require_template(self._db, template)
            for row in self._db.execute(query, (template,) if template else ()):
                yield _row(row)

    def _import(
        self, rows: Iterable[tuple[int, dict[str, str]]], on_existing: OnExisting
    ) -> ImportReport:
        if on_existing not in ("error", "update", "skip"):
            raise ValueError(
                f"on_existing must be 'error', 'update' or 'skip', not {on_existing!r}"
            )
        report = ImportReport()
        batch: list[ParsedRow] = []
        # One transaction: a file refused halfway (not UTF-8 at line 900,000) writes nothing.
        with self._transaction() as db:
            db.execute(
                "CREATE TEMP TABLE imported (e164 TEXT PRIMARY KEY, line INTEGER NOT NULL) "
                "WITHOUT ROWID"
            )
            # Into an empty registry (the big imports), every number found is this file's.
            empty = db.execute("SELECT NOT EXISTS (SELECT 1 FROM numbers)").fetchone()[0]
            for row in parse_rows(rows, report):
                batch.append(row)
                if len(batch) == _IMPORT_BATCH:
                    self._import_batch(db, batch, on_existing, report, empty)
                    batch.clear()
            self._import_batch(db, batch, on_existing, report, empty)
            db.execute("DROP TABLE temp.imported")
        return report

    def _import_batch(
        self,
        db: sqlite3.Connection,
        batch: list[ParsedRow],
        on_existing: OnExisting,
        report: ImportReport,
        empty: bool,
    ) -> None:
        """Write one batch; numbers seen earlier in the file (the temp table `imported`,
        not memory) are duplicates, numbers registered before (none if the registry was
        `empty`) are `on_existing`'s."""
        fresh: dict[str, ParsedRow] = {}
        for row in batch:
            first = fresh.get(row.e164)
            if first is not None:
                report.reject(_duplicate(row, first.line))
            else:
                fresh[row.e164] = row
        if not fresh:
            return
        marks = ", ".join("?" * len(fresh))
        earlier = dict(
            db.execute(f"SELECT e164, line FROM temp.imported WHERE e164 IN ({marks})", [*fresh])
        )
        registered: dict[str, tuple[str, str | None, str | None]] = {}
        if not empty:
            found = db.execute(
                f"SELECT e164, provider, account, credentials FROM numbers WHERE e164 IN ({marks})",
                [*fresh],
            )
            registered = {e164: tuple(held) for (e164, *held) in found}
        added, assigned = [], []
        updated: dict[frozenset[str], list[tuple[object, ...]]] = {}
        for e164, row in fresh.items():
            if e164 in earlier:
                report.reject(_duplicate(row, earlier[e164]))
                continue
            if e164 not in registered:
                added.append(row.fields)
            elif on_existing == "update":
                kept = sorted(row.cleared & _NEEDS_VALUE)
                if kept:
                    report.reject(*(RowError(row.line, name, _KEEPS_VALUE) for name in kept))
                    continue
                provider, account, credentials = registered[e164]
                held = {"account": account, "credentials": credentials}
                moved = _provider_move(provider, row.fields[_PROVIDER], held, row.given)
                if moved:
                    report.reject(RowError(row.line, "provider", f"{e164} {moved}"))
                    continue
                updated.setdefault(row.given, []).append(row.fields)
            elif on_existing == "skip":
                report.skipped += 1
                continue
            else:
                report.reject(RowError(row.line, "e164", f"{e164} is already registered"))
                continue
            assigned += [(template, e164) for template in row.templates]
        db.executemany(
            "INSERT INTO temp.imported (e164, line) VALUES (?, ?)",
            [(e164, row.line) for e164, row in fresh.items() if e164 not in earlier],
        )
        self._insert(db, added)
        for given, rows in updated.items():  # the settings the row gives, as PATCH
            self._update(db, rows, given)
            report.updated += len(rows)
        # (Logged: every number here was just inserted or updated, which the triggers log.)
        db.executemany("INSERT OR IGNORE INTO assignments (template, e164) VALUES (?, ?)", assigned)
        report.added += len(added)

    # -- internals -----------------------------------------------------------------

    def _migrate(self) -> None:
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RegistryError(
                    f"{self.path} has schema version {version}, newer than this numsim "
                    f"understands ({SCHEMA_VERSION}); upgrade numsim"
                )
            for step in MIGRATIONS[version:]:
                step(db)
            _add_setting_columns(db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._reading():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                _trim_change_log(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock, self._sqlite_errors():
            yield

    @contextmanager
    def _sqlite_errors(self) -> Iterator[None]:
        """Every SQLite failure becomes one RegistryError naming the file and the fix."""
        try:
            yield
        except sqlite3.Error as error:
            raise RegistryError(_explain(self.path, error, self._timeout)) from None

    @staticmethod
    def _exists(db: sqlite3.Connection, e164: str) -> bool:
        return db.execute("SELECT 1 FROM numbers WHERE e164 = ?", (e164,)).fetchone() is not None

    @staticmethod
    def _get(db: sqlite3.Connection, e164: str) -> OutboundNumber:
        row = db.execute(f"SELECT {_select()} FROM numbers WHERE e164 = ?", (e164,)).fetchone()
        if row is None:
            raise UnknownNumberError(f"{e164} is not in the registry")
        return _number(row)

    @staticmethod
    def _templates_of(db: sqlite3.Connection, e164: str) -> list[str]:
        rows = db.execute(
            "SELECT template FROM assignments WHERE e164 = ? ORDER BY template", (e164,)
        )
        return [template for (template,) in rows]

    @staticmethod
    def _require_template(db: sqlite3.Connection, template: str) -> None:
        found = db.execute("SELECT 1 FROM assignments WHERE template = ? LIMIT 1", (template,))
        if found.fetchone() is None:
            raise UnknownTemplateError(f"template {template!r} has no numbers in the registry")

    @staticmethod
    def _insert(db: sqlite3.Connection, rows: Iterable[tuple[object, ...]]) -> None:
        """Insert numbers given as their stored fields (see numbers.plain)."""
        marks = ", ".join("?" * len(_NUMBER_COLUMNS))
        db.executemany(f"INSERT INTO numbers ({_select()}) VALUES ({marks})", rows)

    @staticmethod
    def _update(
        db: sqlite3.Connection,
        rows: Iterable[tuple[object, ...]],
        given: Iterable[str] = _NUMBER_COLUMNS,
    ) -> None:
        """Overwrite numbers' settings, given as their stored fields (see numbers.plain):
        the `given` ones, the others left as they are."""
        wanted = {column for column in given if column != "e164"}
        indexes = [i for i, column in enumerate(_NUMBER_COLUMNS) if column in wanted]
        assignments = ", ".join(f"{_NUMBER_COLUMNS[i]} = ?" for i in indexes)
        db.executemany(
            f"UPDATE numbers SET {assignments}, "
            "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE e164 = ?",
            [(*(row[i] for i in indexes), row[0]) for row in rows],
        )

    @staticmethod
    def _assign(db: sqlite3.Connection, e164: str, templates: Iterable[str]) -> None:
        """Put a number in templates' pools, and log it (see _change_log_v2)."""
        db.executemany(
            "INSERT OR IGNORE INTO assignments (template, e164) VALUES (?, ?)",
            [(t, e164) for t in templates],
        )
        db.execute("INSERT INTO changes (e164) VALUES (?)", (e164,))

    # -- pages ---------------------------------------------------------------------

    def page(
        self, search: str = "", *, template: str | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[dict[str, object]], int]:
        """One page of rows (as `rows()` gives them, in E.164 order) whose number,
        provider, account, label or a template contains `search` (any case), within
        `template`'s pool if given; and how many match in all. Paged in SQL, so a page
        of a large registry reads only its own rows (a search scans, once)."""
        offset = whole("offset", offset)
        limit = whole("limit", limit, minimum=1, maximum=10_000)
        where, params = _matching(search.strip())
        if template is not None:
            where.append(
                "EXISTS (SELECT 1 FROM assignments p WHERE p.e164 = n.e164 AND p.template = ?)"
            )
            params.append(template)
        condition = f"WHERE {' AND '.join(where)} " if where else ""
        query = (
            f"SELECT {_select('n.')}, {_TEMPLATES} "
            f"FROM numbers n {condition}ORDER BY n.e164 LIMIT ? OFFSET ?"
        )
        with self._reading():
            total = self._db.execute(f"SELECT count(*) FROM numbers n {condition}", params)
            count: int = total.fetchone()[0]
            rows = [_row(row) for row in self._db.execute(query, [*params, limit, offset])]
        return rows, count


def _change_count(db: sqlite3.Connection) -> int:
    found = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    return 0 if found is None else found[0]


def _trim_change_log(db: sqlite3.Connection) -> None:
    """Keep the last LOG_KEPT changes (a reader further behind reads everything)."""
    count = _change_count(db)
    oldest = db.execute("SELECT min(id) FROM changes").fetchone()[0]
    if oldest is not None and count - oldest >= 2 * LOG_KEPT:
        db.execute("DELETE FROM changes WHERE id <= ?", (count - LOG_KEPT,))


def _matching(search: str) -> tuple[list[str], list[object]]:
    """The WHERE terms of a search: the text anywhere in the number (also as typed with
    spaces or dashes), provider, account, label or a template's id."""
    if not search:
        return [], []
    pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    digits = "".join(c for c in search if c.isdigit())
    columns = ["n.e164", "n.provider", "n.account", "n.label"]
    terms = [f"{column} LIKE ? ESCAPE '\\'" for column in columns]
    params: list[object] = [pattern] * len(columns)
    terms.append(
        "EXISTS (SELECT 1 FROM assignments t WHERE t.e164 = n.e164 "
        "AND t.template LIKE ? ESCAPE '\\')"
    )
    params.append(pattern)
    if digits and digits != search and all(c in "+()- ." or c.isdigit() for c in search):
        terms.append("n.e164 LIKE ?")
        params.append(f"%{digits}%")
    return [f"({' OR '.join(terms)})"], params


def _select(prefix: str = "") -> str:
    return ", ".join(prefix + c for c in _NUMBER_COLUMNS)


def _number(row: tuple[object, ...]) -> OutboundNumber:
    values = dict(zip(_NUMBER_COLUMNS, row, strict=True))
    for flag in _FLAGS:
        values[flag] = bool(values[flag])
    return OutboundNumber(**values)  # type: ignore[arg-type]


def _row(row: tuple[object, ...]) -> dict[str, object]:
    """A stored row as the CSV columns, without re-validating it (as fast as a cursor)."""
    *settings, templates = row
    values: dict[str, object] = dict(zip(_NUMBER_COLUMNS, settings, strict=True))
    for flag in _FLAGS:
        values[flag] = bool(values[flag])
    values["templates"] = str(templates).split(TEMPLATE_SEPARATOR) if templates else []
    return {name: values[name] for name in COLUMNS}


def _duplicate(row: ParsedRow, first_line: int) -> RowError:
    return RowError(row.line, "e164", f"{row.e164} is a duplicate of line {first_line}")


def _explain(path: str, error: sqlite3.Error, timeout: float) -> str:
    reason = str(error)
    if "locked" in reason or "busy" in reason:
        return (
            f"registry {path} is locked by another process (waited {timeout:g} s); "
            "try again when it has finished"
        )
    if "not a database" in reason:
        return f"{path} is not a numsim registry (not a SQLite database)"
    if "unable to open" in reason:
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            return f"registry {path} is a directory; name a file"
        if not os.path.isdir(folder):
            return f"cannot create registry {path}: directory {folder} does not exist"
        return f"cannot open registry {path}: permission denied or read-only"
    return f"registry {path}: {reason}"
