"""several townships in one deployment: every record belongs to one, users see their own

Revision ID: 0030_township_scope
Revises: 0022_pipeline_tiles, 0024_mnr_patches, 0029_field_capture (merges the three heads)

- ``township_code`` on every table a bureau owns: the ledger (``structure``,
  ``cleared_parcel``, ``farmland_parcel``, ``change_patch``), the imagery (``flight``,
  ``detection_run``), campaigns (``campaign``, ``campaign_case``), field work
  (``verification``, ``verification_photo``, ``patrol_record``, ``case_evidence``,
  ``capture_file``, ``transition_evidence``, ``structure_transition``), ministry patches
  (``mnr_patch``, ``mnr_evidence``) and ``admin_area`` (a town is its own township, a village,
  community or grid zone that of its parent town). Reference layers shared by the district stay
  without one: red lines and pipelines cross township boundaries and every bureau's rules need
  them whole (``red_line``, ``pipeline``, ``detector_model``).
- A township is a current ``admin_area`` of level ``town``. ``t20_township`` (BEFORE INSERT OR
  UPDATE) fills ``township_code`` when the writer left it empty: from the town containing the
  feature's ``ST_PointOnSurface`` (geometry tables), from the parent record (transitions,
  evidence, files, tags, ministry attributes, runs), or for a campaign from the one township of
  the deployment or of the session. With one town every record belongs to it, wherever it lies;
  with none the column stays empty. A record that falls in no township while several exist is
  refused (SQLSTATE 23514, constraint ``ge_township_required``) with the townships listed; a
  geometry edit re-derives the township; a given code must be a current town.
- Row-level security on those tables (and ``township`` by its code, ``audit_log`` by the
  ``township_code`` the audit trigger now copies from the row): policy ``ge_township`` lets a
  session see and write the rows of the townships in its setting ``ge.townships``
  (comma-separated codes, set per transaction by the API). Unset, empty or ``*``: every
  township (the CLI and maintenance, connected as ``ge_app`` without a setting). The table
  owner (``ge_owner``, migrations and restores) is not subject to it. A write into a township
  outside the setting is refused by the trigger with a clear message (SQLSTATE 42501,
  ``ge_township_scope``) and, behind it, by the policy's WITH CHECK.
- ``user_township``: the townships a user is scoped to (granted, retired when revoked), audited.
- Existing rows are back-filled with the user triggers off (no version bump, no audit rows for
  a derived column); existing audit rows get the township of the record they describe.
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_township_scope"
down_revision = ("0022_pipeline_tiles", "0024_mnr_patches", "0029_field_capture")
branch_labels = None
depends_on = None

#: tables with a geometry of their own: the town containing its representative point
GEOMETRY_TABLES = {
    "structure": "geom",
    "cleared_parcel": "geom",
    "farmland_parcel": "geom",
    "change_patch": "geom",
    "flight": "footprint",
}
#: child tables: the township of their parent record (backfill order: parents first)
CHILD_TABLES = {
    "structure_transition": "SELECT township_code FROM structure WHERE id = c.structure_id",
    "case_evidence": "SELECT township_code FROM structure WHERE id = c.structure_id",
    "campaign_case": "SELECT township_code FROM structure WHERE id = c.structure_id",
    "detection_run": "SELECT township_code FROM flight WHERE id = c.after_flight_id",
    "mnr_patch": "SELECT township_code FROM change_patch WHERE id = c.change_patch_id",
    "mnr_evidence": "SELECT township_code FROM change_patch WHERE id = c.change_patch_id",
    "verification": (
        "SELECT CASE c.target_kind "
        "WHEN 'structure' THEN (SELECT township_code FROM structure WHERE id = c.target_id) "
        "WHEN 'change_patch' THEN (SELECT township_code FROM change_patch WHERE id = c.target_id) "
        "WHEN 'farmland_parcel' THEN "
        "(SELECT township_code FROM farmland_parcel WHERE id = c.target_id) END"
    ),
    "verification_photo": "SELECT township_code FROM verification WHERE id = c.verification_id",
    "patrol_record": (
        "SELECT coalesce((SELECT township_code FROM structure WHERE id = c.structure_id), "
        "ge_township_at(coalesce(c.sketch, c.location)))"
    ),
    "capture_file": (
        "SELECT coalesce((SELECT township_code FROM patrol_record WHERE id = c.patrol_id), "
        "(SELECT township_code FROM case_evidence WHERE id = c.evidence_id))"
    ),
    "transition_evidence": (
        "SELECT township_code FROM structure_transition WHERE id = c.transition_id"
    ),
}
#: every table with the column, in back-fill order
OWNED = ("admin_area", *GEOMETRY_TABLES, "campaign", *CHILD_TABLES)
#: tables whose rows a session sees by its townships (``township`` by its own code)
RLS_TABLES = (*OWNED, "township")

FUNCTIONS = r"""
-- The township setting of the session: NULL (unset, empty or '*') = every township.
CREATE OR REPLACE FUNCTION ge_scope() RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN coalesce(current_setting('ge.townships', true), '') IN ('', '*') THEN NULL
              ELSE string_to_array(current_setting('ge.townships', true), ',') END
$$;

-- Whether a row of township ``code`` is visible and writable in this session (policies).
-- One expression, so the planner inlines it; a row without a township only when unrestricted.
CREATE OR REPLACE FUNCTION ge_in_scope(code text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN coalesce(current_setting('ge.townships', true), '') IN ('', '*') THEN true
              ELSE coalesce(code = ANY (string_to_array(current_setting('ge.townships', true),
                                                         ',')), false) END
$$;

-- The current towns (admin_area of level town), whatever the session may see.
CREATE OR REPLACE FUNCTION ge_town_codes() RETURNS text[]
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT coalesce(array_agg(code ORDER BY code), '{}') FROM admin_area
  WHERE level = 'town' AND retired_at IS NULL
$$;

-- "120111100 津西示范镇, 120116001 滨海示范街道" for messages.
CREATE OR REPLACE FUNCTION ge_town_list() RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT coalesce(string_agg(code || ' ' || name, ', ' ORDER BY code), 'none')
  FROM admin_area WHERE level = 'town' AND retired_at IS NULL
$$;

-- The township of a geometry: the town containing its representative point; the one town of a
-- single-township deployment whatever the geometry; NULL with no town or outside every town.
CREATE OR REPLACE FUNCTION ge_township_at(g geometry) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  towns text[] := ge_town_codes();
  c text;
BEGIN
  IF cardinality(towns) = 0 THEN
    RETURN NULL;
  ELSIF cardinality(towns) = 1 THEN
    RETURN towns[1];
  ELSIF g IS NULL OR ST_IsEmpty(g) THEN
    RETURN NULL;
  END IF;
  SELECT a.code INTO c FROM admin_area a
  WHERE a.level = 'town' AND a.retired_at IS NULL
    AND ST_Intersects(a.geom, ST_PointOnSurface(g))
  ORDER BY a.code LIMIT 1;
  RETURN c;
END $$;

-- The township of an admin area: a town its own code, others their parent town's (up the
-- parent chain), else the town containing it.
CREATE OR REPLACE FUNCTION ge_township_of_admin(a_code text, a_level text, a_parent text,
                                                g geometry) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  p text := a_parent;
  r record;
BEGIN
  IF a_level = 'town' THEN
    RETURN a_code;
  END IF;
  FOR i IN 1..8 LOOP
    EXIT WHEN p IS NULL;
    SELECT code, level, parent_code INTO r FROM admin_area
    WHERE code = p AND retired_at IS NULL;
    EXIT WHEN NOT FOUND;
    IF r.level = 'town' THEN
      RETURN r.code;
    END IF;
    p := r.parent_code;
  END LOOP;
  RETURN ge_township_at(g);
END $$;

-- How messages name a row: its case/parcel/patch number, code or name.
CREATE OR REPLACE FUNCTION ge_row_label(j jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(j->>'case_no', j->>'parcel_no', j->>'patch_code', j->>'code', j->>'name',
                  '#' || (j->>'id'), '')
$$;

-- "120116001 滨海示范街道" (the code alone when no such town).
CREATE OR REPLACE FUNCTION ge_town_label(c text) RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT coalesce(c || ' ' || (SELECT name FROM admin_area WHERE code = c AND level = 'town'
                               AND retired_at IS NULL), c, '(none)')
$$;

CREATE OR REPLACE FUNCTION ge_township_fill() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  towns text[] := ge_town_codes();
  g geometry;
  derive boolean := TG_OP = 'INSERT' AND NEW.township_code IS NULL;
  by_geometry boolean := false;
  scope text[] := ge_scope();
  c text;
BEGIN
  IF TG_OP = 'INSERT' AND NEW.township_code IS NOT NULL
     OR TG_OP = 'UPDATE' AND NEW.township_code IS DISTINCT FROM OLD.township_code THEN
    -- given by the writer: it must name a current town
    IF NEW.township_code IS NOT NULL AND NOT NEW.township_code = ANY (towns) THEN
      RAISE EXCEPTION 'township ''%'' is not a current town (乡镇/街道); townships: %',
        NEW.township_code, ge_town_list()
        USING ERRCODE = 'check_violation', CONSTRAINT = 'ge_township_known';
    END IF;
  ELSIF TG_TABLE_NAME = 'admin_area' THEN
    IF derive OR TG_OP = 'UPDATE' AND (NEW.level, NEW.code, NEW.parent_code, NEW.geom)
                 IS DISTINCT FROM (OLD.level, OLD.code, OLD.parent_code, OLD.geom) THEN
      NEW.township_code := ge_township_of_admin(NEW.code, NEW.level, NEW.parent_code, NEW.geom);
    END IF;
  ELSIF TG_TABLE_NAME = 'flight' THEN
    IF derive OR TG_OP = 'UPDATE' AND NEW.footprint IS DISTINCT FROM OLD.footprint THEN
      NEW.township_code := ge_township_at(NEW.footprint);
      by_geometry := true;
    END IF;
  ELSIF TG_TABLE_NAME IN ('structure', 'cleared_parcel', 'farmland_parcel', 'change_patch') THEN
    IF derive OR TG_OP = 'UPDATE' AND NEW.geom IS DISTINCT FROM OLD.geom THEN
      NEW.township_code := ge_township_at(NEW.geom);
      by_geometry := true;
    END IF;
  ELSIF derive THEN
    IF TG_TABLE_NAME = 'patrol_record' THEN
      SELECT township_code INTO c FROM structure WHERE id = NEW.structure_id;
      IF c IS NULL THEN
        NEW.township_code := ge_township_at(coalesce(NEW.sketch, NEW.location));
        by_geometry := true;
      ELSE
        NEW.township_code := c;
      END IF;
    ELSIF TG_TABLE_NAME IN ('structure_transition', 'case_evidence', 'campaign_case') THEN
      SELECT township_code INTO c FROM structure WHERE id = NEW.structure_id;
      NEW.township_code := c;
    ELSIF TG_TABLE_NAME IN ('mnr_patch', 'mnr_evidence') THEN
      SELECT township_code INTO c FROM change_patch WHERE id = NEW.change_patch_id;
      NEW.township_code := c;
    ELSIF TG_TABLE_NAME = 'detection_run' THEN
      SELECT township_code INTO c FROM flight WHERE id = NEW.after_flight_id;
      NEW.township_code := c;
    ELSIF TG_TABLE_NAME = 'verification' THEN
      IF NEW.target_kind = 'structure' THEN
        SELECT township_code INTO c FROM structure WHERE id = NEW.target_id;
      ELSIF NEW.target_kind = 'change_patch' THEN
        SELECT township_code INTO c FROM change_patch WHERE id = NEW.target_id;
      ELSIF NEW.target_kind = 'farmland_parcel' THEN
        SELECT township_code INTO c FROM farmland_parcel WHERE id = NEW.target_id;
      END IF;
      NEW.township_code := c;
    ELSIF TG_TABLE_NAME = 'verification_photo' THEN
      SELECT township_code INTO c FROM verification WHERE id = NEW.verification_id;
      NEW.township_code := c;
    ELSIF TG_TABLE_NAME = 'capture_file' THEN
      IF NEW.patrol_id IS NOT NULL THEN
        SELECT township_code INTO c FROM patrol_record WHERE id = NEW.patrol_id;
      ELSE
        SELECT township_code INTO c FROM case_evidence WHERE id = NEW.evidence_id;
      END IF;
      NEW.township_code := c;
    ELSIF TG_TABLE_NAME = 'transition_evidence' THEN
      SELECT township_code INTO c FROM structure_transition WHERE id = NEW.transition_id;
      NEW.township_code := c;
    ELSIF TG_TABLE_NAME = 'campaign' THEN
      -- no geometry and no parent: the deployment's one township, or the session's one
      IF cardinality(towns) = 1 THEN
        NEW.township_code := towns[1];
      ELSIF cardinality(scope) = 1 AND scope[1] = ANY (towns) THEN
        NEW.township_code := scope[1];
      ELSIF cardinality(towns) > 1 THEN
        RAISE EXCEPTION '% ''%'' needs a township (township_code): this deployment has several: %',
          TG_TABLE_NAME, NEW.code, ge_town_list()
          USING ERRCODE = 'check_violation', CONSTRAINT = 'ge_township_required';
      END IF;
    END IF;
  END IF;
  IF by_geometry AND NEW.township_code IS NULL AND cardinality(towns) > 1 THEN
    RAISE EXCEPTION '% ''%'' lies outside every township (乡镇/街道) of this deployment: %',
      TG_TABLE_NAME, ge_row_label(to_jsonb(NEW)), ge_town_list()
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ge_township_required',
            HINT = 'draw it inside a township, or name one in township_code';
  END IF;
  IF NOT ge_in_scope(NEW.township_code) THEN
    RAISE EXCEPTION '% ''%'' belongs to township %, not to the townships of this session (%)',
      TG_TABLE_NAME, ge_row_label(to_jsonb(NEW)), ge_town_label(NEW.township_code),
      array_to_string(scope, ', ')
      USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'ge_township_scope';
  END IF;
  RETURN NEW;
END $$;
"""

#: ge_audit of 0001, now also copying the row's township into the audit row
AUDIT_WITH_TOWNSHIP = r"""
CREATE OR REPLACE FUNCTION ge_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_j jsonb := CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END;
  new_j jsonb := to_jsonb(NEW);
  act text := lower(TG_OP);
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF old_j = new_j THEN
      RETURN NULL;
    END IF;
    IF (old_j->>'retired_at') IS NULL AND (new_j->>'retired_at') IS NOT NULL THEN
      act := 'retire';
    END IF;
  END IF;
  INSERT INTO audit_log (table_name, record_id, action, actor, at, txid, old_row, new_row,
                         township_code)
  VALUES (TG_TABLE_NAME, (new_j->>'id')::bigint, act, ge_audit_actor(), clock_timestamp(),
          txid_current(), old_j, new_j,
          CASE WHEN TG_TABLE_NAME = 'township' THEN new_j->>'code'
               ELSE coalesce(new_j->>'township_code', old_j->>'township_code') END);
  RETURN NULL;
END $$;
"""

AUDIT_WITHOUT_TOWNSHIP = r"""
CREATE OR REPLACE FUNCTION ge_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_j jsonb := CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END;
  new_j jsonb := to_jsonb(NEW);
  act text := lower(TG_OP);
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF old_j = new_j THEN
      RETURN NULL;
    END IF;
    IF (old_j->>'retired_at') IS NULL AND (new_j->>'retired_at') IS NOT NULL THEN
      act := 'retire';
    END IF;
  END IF;
  INSERT INTO audit_log (table_name, record_id, action, actor, at, txid, old_row, new_row)
  VALUES (TG_TABLE_NAME, (new_j->>'id')::bigint, act, ge_audit_actor(), clock_timestamp(),
          txid_current(), old_j, new_j);
  RETURN NULL;
END $$;
"""


def _ledger_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
    ]  # fmt: skip


def _backfill() -> None:
    """Fill ``township_code`` of the rows already stored, parents before children."""
    op.execute(
        "UPDATE admin_area SET township_code = ge_township_of_admin(code, level, parent_code, geom)"
    )
    for table, col in GEOMETRY_TABLES.items():
        op.execute(f"UPDATE {table} SET township_code = ge_township_at({col})")
    # a campaign: the deployment's one town, else the one township of the cases it tags
    op.execute(
        """
        UPDATE campaign c SET township_code = coalesce(
          CASE WHEN cardinality(ge_town_codes()) = 1 THEN (ge_town_codes())[1] END,
          (SELECT min(s.township_code) FROM campaign_case cc JOIN structure s
             ON s.id = cc.structure_id WHERE cc.campaign_id = c.id
           HAVING count(DISTINCT s.township_code) = 1))
        """
    )
    for table, parent in CHILD_TABLES.items():
        op.execute(f"UPDATE {table} c SET township_code = ({parent})")
    for table in OWNED:
        op.execute(
            f"UPDATE audit_log a SET township_code = t.township_code FROM {table} t "
            f"WHERE a.table_name = '{table}' AND a.record_id = t.id"
        )
    op.execute(
        "UPDATE audit_log a SET township_code = t.code FROM township t "
        "WHERE a.table_name = 'township' AND a.record_id = t.id"
    )


def upgrade() -> None:
    op.execute(FUNCTIONS)
    for table in OWNED:
        op.add_column(table, sa.Column("township_code", sa.String(length=40), nullable=True))
        op.create_index(f"ix_{table}_township_code", table, ["township_code"])
    op.add_column("audit_log", sa.Column("township_code", sa.String(length=40), nullable=True))
    op.create_index("ix_audit_log_township_code", "audit_log", ["township_code"])

    # back-fill with the user triggers off: a derived column, not an edit (no version bump, no
    # audit row, append-only tables too); the owner may, ge_app may not
    for table in (*OWNED, "audit_log"):
        op.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    _backfill()
    for table in (*OWNED, "audit_log"):
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")

    op.execute(AUDIT_WITH_TOWNSHIP)
    for table in OWNED:
        op.execute(
            f"CREATE TRIGGER t20_township BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ge_township_fill()"
        )
    for table in RLS_TABLES:
        column = "code" if table == "township" else "township_code"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY ge_township ON {table} "
            f"USING (ge_in_scope({column})) WITH CHECK (ge_in_scope({column}))"
        )
    op.execute("ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY ge_township ON audit_log FOR SELECT USING (ge_in_scope(township_code))"
    )
    # rows come from the audit trigger only (t00_by_trigger_only), whatever their township
    op.execute("CREATE POLICY ge_audit_insert ON audit_log FOR INSERT WITH CHECK (true)")

    op.create_table(
        "user_township",
        sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("township_code", sa.String(length=40), nullable=False),
        sa.Column("granted_by", sa.String(length=100), nullable=False),
        *_ledger_columns(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_user_township_user_id", "user_township", ["user_id"])
    op.execute(
        "CREATE UNIQUE INDEX uq_user_township_current ON user_township (user_id, township_code) "
        "WHERE retired_at IS NULL"
    )
    for sql in (
        "CREATE TRIGGER t05_touch BEFORE UPDATE ON user_township "
        "FOR EACH ROW EXECUTE FUNCTION ge_touch()",
        "CREATE TRIGGER t90_audit AFTER INSERT OR UPDATE ON user_township "
        "FOR EACH ROW EXECUTE FUNCTION ge_audit()",
        "CREATE TRIGGER t00_no_delete BEFORE DELETE ON user_township "
        "FOR EACH ROW EXECUTE FUNCTION ge_refuse_delete()",
        "CREATE TRIGGER t00_no_truncate BEFORE TRUNCATE ON user_township "
        "FOR EACH STATEMENT EXECUTE FUNCTION ge_refuse_delete()",
    ):
        op.execute(sql)


def downgrade() -> None:
    op.execute("DROP TABLE user_township")
    op.execute("DROP POLICY IF EXISTS ge_audit_insert ON audit_log")
    op.execute("DROP POLICY IF EXISTS ge_township ON audit_log")
    op.execute("ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY")
    for table in RLS_TABLES:
        op.execute(f"DROP POLICY IF EXISTS ge_township ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in OWNED:
        op.execute(f"DROP TRIGGER IF EXISTS t20_township ON {table}")
    op.execute(AUDIT_WITHOUT_TOWNSHIP)
    op.drop_index("ix_audit_log_township_code", table_name="audit_log")
    op.drop_column("audit_log", "township_code")
    for table in OWNED:
        op.drop_index(f"ix_{table}_township_code", table_name=table)
        op.drop_column(table, "township_code")
    for fn in (
        "ge_township_fill()",
        "ge_town_label(text)",
        "ge_row_label(jsonb)",
        "ge_township_of_admin(text, text, text, geometry)",
        "ge_township_at(geometry)",
        "ge_town_list()",
        "ge_town_codes()",
        "ge_in_scope(text)",
        "ge_scope()",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
