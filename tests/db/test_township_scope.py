"""Several townships in one deployment (issue 16 item 7), in the database itself.

Every record a bureau owns gets its township from the trigger (the town containing it, or its
parent record), a record outside every township is refused with a message naming them, and
row-level security on the app role shows a transaction only the townships of its setting
``ge.townships``: proven here on raw SQL connections as ``ge_app``, with no library in between.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from geo_enforce.access import townships as scoping
from geo_enforce.access.auth import create_user
from geo_enforce.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from geo_enforce.ledger import campaigns as camp
from geo_enforce.ledger import lifecycle
from geo_enforce.storage import localdb
from geo_enforce.storage import models as m
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.field_models import PatrolRecord
from geo_enforce.storage.scope import narrow, scoped_sessionmaker
from tests.support.township_seed import VA, VB, X0, Y0, A, B, seed_towns, seed_two_townships, sq

FAR = sq(X0 + 0.5, Y0 + 0.5)  # in no township


def _codes(factory, table: str, key: str) -> dict[str, str | None]:
    with factory() as s:
        rows = s.execute(text(f"SELECT {key}, township_code FROM {table}")).all()
    return {r[0]: r[1] for r in rows}


def test_records_get_their_township_from_geometry_and_parent(sessions):
    seeded = seed_two_townships(sessions)
    assert _codes(sessions, "structure", "case_no") == {
        "SA-1": A, "SA-2": A, "SB-1": B, "SB-2": B
    }  # fmt: skip
    assert _codes(sessions, "cleared_parcel", "parcel_no") == {"CA-1": A, "CB-1": B}
    assert _codes(sessions, "change_patch", "code") == {"PB-1": B}
    assert _codes(sessions, "admin_area", "code") == {A: A, VA: A, B: B, VB: B}
    with transaction(sessions, "test") as s:
        sb2 = s.get(m.Structure, seeded.ids["SB-2"])
        assert sb2 is not None and sb2.township_code == B  # read back by the ORM
        tr = lifecycle.transition(s, sb2, "verified", actor="test", reason="核实")
        now, where = dt.datetime.now(dt.UTC), "SRID=4490;POINT(117.195 39.001)"  # in A
        s.add(PatrolRecord(observed_at=now, category="new_building", location=where,
                           recorded_by="test"))  # fmt: skip
        s.add(PatrolRecord(observed_at=now, category="follow_up", location=where,
                           structure_id=sb2.id, recorded_by="test"))  # fmt: skip
        c = camp.create_campaign(s, code="BH-1", name="小院整治", starts_on=dt.date(2024, 1, 1),
                                 ends_on=dt.date(2024, 12, 31), target_count=2,
                                 township=B)  # fmt: skip
        tag = camp.tag(s, c, sb2, reason="人工纳入")
        s.flush()
        assert (tr.township_code, c.township_code, tag.township_code) == (B, B, B)
    # a patrol record: its case's township, else where it was taken
    with sessions() as s:
        patrols = s.execute(
            select(PatrolRecord.category, PatrolRecord.township_code).order_by(PatrolRecord.id)
        ).all()
    assert [tuple(p) for p in patrols] == [("new_building", A), ("follow_up", B)]


def test_geometry_edit_moves_the_record_and_a_given_township_must_exist(sessions):
    seeded = seed_two_townships(sessions)
    with transaction(sessions, "test") as s:
        st = s.get(m.Structure, seeded.ids["SA-1"])
        assert st is not None
        st.geom = sq(X0 + 0.003, Y0 + 0.003)
        s.flush()
        assert st.township_code == B
    with pytest.raises(InvalidInput, match=r"'999' is not a current town.*120111100 测试镇"):
        with transaction(sessions, "test") as s:
            s.add(m.Structure(case_no="X-1", category="wall", geom=sq(X0 - 0.005, Y0),
                              township_code="999"))  # fmt: skip
    with transaction(sessions, "test") as s:  # by hand: the writer's township stands
        s.add(m.Structure(case_no="X-2", category="wall", geom=sq(X0 - 0.005, Y0),
                          township_code=B))  # fmt: skip
    assert _codes(sessions, "structure", "case_no")["X-2"] == B


def test_a_record_outside_every_township_is_refused(sessions):
    seed_two_townships(sessions)
    with pytest.raises(InvalidInput) as err:
        with transaction(sessions, "test") as s:
            s.add(m.Structure(case_no="FAR-1", category="wall", geom=FAR))
    msg = str(err.value)
    assert "structure 'FAR-1' lies outside every township" in msg
    assert "120111100 测试镇" in msg and "120116100 滨海测试街道" in msg
    with pytest.raises(InvalidInput, match="campaign 'C-1' needs a township"):
        with transaction(sessions, "test") as s:
            camp.create_campaign(s, code="C-1", name="x", starts_on=dt.date(2024, 1, 1),
                                 ends_on=dt.date(2024, 2, 1), target_count=1)  # fmt: skip


def test_single_township_deployment_owns_everything_without_configuration(sessions):
    with transaction(sessions, "test") as s:  # no town yet: no township, nothing refused
        s.add(m.Structure(case_no="EARLY", category="wall", geom=FAR))
    seed_towns(sessions, only_a=True)
    with transaction(sessions, "test") as s:
        s.add(m.Structure(case_no="OUT", category="wall", geom=FAR))  # outside its boundary
        s.add(m.Structure(case_no="IN", category="wall", geom=sq(X0 - 0.005, Y0)))
        c = camp.create_campaign(s, code="C-1", name="x", starts_on=dt.date(2024, 1, 1),
                                 ends_on=dt.date(2024, 2, 1), target_count=1)  # fmt: skip
        s.flush()
        assert c.township_code == A
    assert _codes(sessions, "structure", "case_no") == {"EARLY": None, "OUT": A, "IN": A}


def _app_engine(db_url: str):
    return create_engine(db_url)  # ge_app, as the API and the CLI connect


def test_row_level_security_on_raw_sql_as_the_app_role(db_url, sessions):
    """The proof that does not trust the library: plain SQL on a ``ge_app`` connection with
    township A's setting sees, changes and creates nothing of township B."""
    seeded = seed_two_townships(sessions)
    assert make_url(db_url).username == localdb.APP_ROLE
    eng = _app_engine(db_url)
    try:
        with eng.connect() as conn:
            conn.execute(text("SELECT set_config('ge.townships', :a, true)"), {"a": A})
            cases = conn.execute(text("SELECT case_no FROM structure ORDER BY 1")).scalars().all()
            assert cases == ["SA-1", "SA-2"]
            assert conn.execute(text("SELECT count(*) FROM cleared_parcel")).scalar() == 1
            assert conn.execute(text("SELECT count(*) FROM change_patch")).scalar() == 0
            assert conn.execute(
                text("SELECT count(*) FROM structure WHERE id = :i"), {"i": seeded.ids["SB-1"]}
            ).scalar() == 0  # fmt: skip
            admin = conn.execute(text("SELECT code FROM admin_area ORDER BY 1")).scalars().all()
            assert admin == [A, VA]
            assert conn.execute(text("SELECT code FROM township")).all() == []
            audit = conn.execute(
                text("SELECT DISTINCT table_name, township_code FROM audit_log")
            ).all()
            assert audit and {r[1] for r in audit} == {A}
            # B's rows cannot be changed: invisible to UPDATE
            n = conn.execute(
                text("UPDATE structure SET notes = 'x' WHERE case_no IN ('SB-1', 'SB-2')")
            ).rowcount
            assert n == 0
            conn.rollback()
        refused = [
            # a new record lying in B
            "INSERT INTO structure (case_no, category, geom) VALUES ('Z-1', 'wall', "
            "ST_Multi(ST_MakeEnvelope(117.205, 39.0, 117.2055, 39.0005, 4490)))",
            # a record claimed for B by hand
            "INSERT INTO structure (case_no, category, township_code, geom) VALUES "
            "('Z-2', 'wall', '120116100', "
            "ST_Multi(ST_MakeEnvelope(117.195, 39.0, 117.1955, 39.0005, 4490)))",
            # A's record moved into B
            "UPDATE structure SET geom = ST_Multi(ST_MakeEnvelope(117.205, 39.0, 117.2055, "
            "39.0005, 4490)) WHERE case_no = 'SA-1'",
            # A's record handed to B
            "UPDATE structure SET township_code = '120116100' WHERE case_no = 'SA-2'",
            # a transition of B's case
            f"INSERT INTO structure_transition (structure_id, from_status, to_status, actor, at, "
            f"reason) VALUES ({seeded.ids['SB-2']}, 'suspected', 'verified', 'x', now(), 'x')",
        ]
        for sql in refused:
            with eng.connect() as conn:
                conn.execute(text("SELECT set_config('ge.townships', :a, true)"), {"a": A})
                with pytest.raises(DBAPIError) as err:
                    conn.execute(text(sql))
                assert getattr(err.value.orig, "pgcode", None) == "42501", sql
                assert "120116100" in str(err.value.orig), sql
        # switching row security off does not reveal rows: the query is refused instead
        with eng.connect() as conn:
            conn.execute(text("SELECT set_config('ge.townships', :a, true)"), {"a": A})
            conn.execute(text("SET LOCAL row_security = off"))
            with pytest.raises(DBAPIError, match="row-level security"):
                conn.execute(text("SELECT count(*) FROM structure"))
        with eng.connect() as conn, pytest.raises(DBAPIError, match="must be owner"):
            conn.execute(text("ALTER TABLE structure DISABLE ROW LEVEL SECURITY"))
        with eng.connect() as conn:  # 'none': nothing; no setting (the CLI): everything
            conn.execute(text("SELECT set_config('ge.townships', 'none', true)"))
            assert conn.execute(text("SELECT count(*) FROM structure")).scalar() == 0
            conn.rollback()
            assert conn.execute(text("SELECT count(*) FROM structure")).scalar() == 4
    finally:
        eng.dispose()


def test_scoped_sessions_and_narrowing(engine, sessions):
    seed_two_townships(sessions)
    both = scoped_sessionmaker(engine, f"{A},{B}")
    only_a = scoped_sessionmaker(engine, A)
    with both() as s:
        assert s.scalar(text("SELECT count(*) FROM structure")) == 4
        narrow(s, B)
        assert s.scalar(text("SELECT count(*) FROM structure")) == 2
    with only_a() as s:
        with pytest.raises(PermissionDenied, match="not among your townships"):
            narrow(s, B)
        with pytest.raises(NotFound, match="not a current town"):
            narrow(s, "120111")
    with pytest.raises(PermissionDenied, match="structure 'Z-3' belongs to township 120116100"):
        with transaction(only_a, "api:a") as s:
            s.add(m.Structure(case_no="Z-3", category="wall", geom=sq(X0 + 0.004, Y0)))


def test_grants_and_the_scope_of_a_user(sessions):
    seed_towns(sessions, only_a=True)
    with transaction(sessions, "test") as s:
        boss = create_user(s, "boss", "admin")
        wang = create_user(s, "wang", "viewer")
        assert scoping.scope_of(s, wang.id, "viewer") is None  # one township: everything
    seed_towns_b = [
        m.AdminArea(code=B, name="滨海测试街道", level="town", geom=sq(X0, Y0 - 0.01, 0.02))
    ]
    with transaction(sessions, "test") as s:
        s.add_all(seed_towns_b)
    with transaction(sessions, "test") as s:
        assert scoping.scope_of(s, wang.id, "viewer") == ()  # several: none until granted
        assert scoping.scope_of(s, boss.id, "admin") is None  # the deployment's admin
        scoping.grant(s, "wang", B, actor="cli:test")
        with pytest.raises(Conflict):
            scoping.grant(s, "wang", B, actor="cli:test")
        with pytest.raises(NotFound, match="not the code of a current town"):
            scoping.grant(s, "wang", VA, actor="cli:test")
        with pytest.raises(PermissionDenied, match="grant only your own"):
            scoping.grant(s, "wang", A, actor="api:a-admin", grantor_scope=(B,))
        scoping.grant(s, "boss", A, actor="cli:test")
        assert scoping.scope_of(s, wang.id, "viewer") == (B,)
        assert scoping.scope_of(s, boss.id, "admin") == (A,)  # an admin of one township
        scoping.revoke(s, "wang", B, actor="cli:test", reason="调岗")
        assert scoping.scope_of(s, wang.id, "viewer") == ()
        assert scoping.grants(s) == {"boss": [A]}


@pytest.mark.slow
def test_migration_backfills_existing_rows_without_edits(pg_port):
    """Rows stored before 0030 get their township (geometry, parent, tagged cases, audit rows)
    with no version bump and no new audit row; one outside both towns stays without one."""
    from alembic import command

    from geo_enforce.storage.migrate import alembic_config, upgrade

    name = "ge_t_backfill_0030"
    url = localdb.ensure_database(pg_port, name, fresh=True)
    try:
        for head in ("0022_pipeline_tiles", "0024_mnr_patches", "0029_field_capture"):
            command.upgrade(alembic_config(url), head)
        eng = create_engine(url)
        box_sql = "ST_Multi(ST_MakeEnvelope(:x, :y, :x + :d, :y + :d, 4490))"
        with eng.begin() as conn:
            for code, name_, level, parent, x in (
                (A, "测试镇", "town", None, X0 - 0.02), (B, "滨海测试街道", "town", None, X0),
                (VB, "天润社区", "community", B, X0),
            ):  # fmt: skip
                conn.execute(
                    text(f"INSERT INTO admin_area (code, name, level, parent_code, geom) "
                         f"VALUES (:c, :n, :l, :p, {box_sql})"),
                    {"c": code, "n": name_, "l": level, "p": parent, "x": x, "y": Y0 - 0.01,
                     "d": 0.02},
                )  # fmt: skip
            for case_no, x in (("OLD-A", X0 - 0.005), ("OLD-B", X0 + 0.005), ("OLD-FAR", X0 + 1)):
                conn.execute(
                    text(f"INSERT INTO structure (case_no, category, geom) "
                         f"VALUES (:c, 'wall', {box_sql})"),
                    {"c": case_no, "x": x, "y": Y0, "d": 0.0004},
                )  # fmt: skip
            conn.execute(
                text("INSERT INTO structure_transition (structure_id, from_status, to_status, "
                     "actor, at, reason) SELECT id, 'suspected', 'verified', 'x', now(), 'x' "
                     "FROM structure WHERE case_no = 'OLD-B'")
            )  # fmt: skip
            conn.execute(
                text("INSERT INTO campaign (code, name, starts_on, ends_on, target_count) "
                     "VALUES ('OLD-C', '整治', '2024-01-01', '2024-12-31', 1)")
            )  # fmt: skip
            conn.execute(
                text("INSERT INTO campaign_case (campaign_id, structure_id, method, tagged_by, "
                     "tagged_at, reason) SELECT c.id, s.id, 'hand', 'x', now(), 'x' "
                     "FROM campaign c, structure s WHERE s.case_no = 'OLD-B'")
            )  # fmt: skip
            audit_before = conn.execute(text("SELECT count(*) FROM audit_log")).scalar()
        upgrade(url)
        with eng.connect() as conn:
            rows = conn.execute(
                text("SELECT case_no, township_code, version FROM structure ORDER BY case_no")
            ).all()
            assert [tuple(r) for r in rows] == [("OLD-A", A, 1), ("OLD-B", B, 1),
                                                ("OLD-FAR", None, 1)]  # fmt: skip
            assert conn.execute(text("SELECT township_code FROM structure_transition")).all() == [
                (B,)
            ]
            assert conn.execute(text("SELECT township_code FROM campaign")).scalar() == B
            admin = conn.execute(text("SELECT code, township_code FROM admin_area ORDER BY 1"))
            assert admin.all() == [(A, A), (B, B), (VB, B)]
            assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == audit_before
            untagged = conn.execute(
                text("SELECT count(*) FROM audit_log WHERE township_code IS NULL "
                     "AND record_id <> (SELECT id FROM structure WHERE case_no = 'OLD-FAR')")
            ).scalar()  # fmt: skip
            assert untagged == 0
        eng.dispose()
    finally:
        localdb.drop_database(pg_port, name)
