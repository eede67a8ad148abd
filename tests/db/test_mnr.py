"""Ministry satellite patches (卫片图斑): import from a shapefile with Chinese field names,
refusals naming file/feature/field, the same rules as flight patches, 举证 evidence (append-only,
refused uploads store nothing), ruling and rectification with version checks, the quarterly
table and its XLSX."""

from __future__ import annotations

import hashlib
import io

import pytest
from shapely.geometry import Polygon, box
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from geo_enforce.errors import CRSError, InvalidInput, NotFound, TooLarge
from geo_enforce.mnr import evidence, imports, quarterly, ruling
from geo_enforce.settings import LimitSettings
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.locking import StaleVersion
from geo_enforce.storage.mnr import MnrEvidence, MnrPatch
from geo_enforce.storage.models import AuditLog, ChangePatch
from tests.db.test_farmland_photos import make_jpeg
from tests.support import mnr_files as mf
from tests.support.geometries import X0, Y0, bowtie

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _import(sessions, path, **kw):
    with transaction(sessions, "cli:tester") as s:
        return imports.import_patches(s, path, **kw)


@pytest.fixture
def imported(sessions, tmp_path):
    mf.seed_village(sessions)
    path = mf.write_patches(
        tmp_path / "wp.shp", mf.gbk_rows(), [mf.OUTSIDE, mf.INSIDE], encoding="GBK"
    )
    return _import(sessions, path)


@pytest.mark.parametrize("encoding", ["GBK", "UTF-8"])
def test_import_chinese_fields_and_rules(sessions, tmp_path, encoding):
    mf.seed_village(sessions)
    rows = mf.gbk_rows()
    if encoding == "UTF-8":  # a UTF-8 .dbf has room for three Chinese characters per name
        rows = [
            {"TBBH": r["图斑编号"], "XZQDM": r["行政区代码"], "XZQMC": r["行政区名称"],
             "JCMJ": r["监测面积"], "前时相": r["前时相"], "后时相": r["后时相"],
             "BHLX": r["变化类型"]}
            for r in rows
        ]  # fmt: skip
    path = mf.write_patches(tmp_path / "wp.shp", rows, [mf.OUTSIDE, mf.INSIDE], encoding=encoding)
    assert (tmp_path / "wp.cpg").read_text().strip() == encoding
    report = _import(sessions, path)
    assert report.inserted == 2 and report.present == []
    assert report.quarters == {"2024Q3": 2}
    assert set(report.columns.values()) == set(imports.FIELDS) - {"quarter"}
    with sessions() as s:
        got = {
            p.source_no: (p, m)
            for p, m in s.execute(
                select(ChangePatch, MnrPatch).join(
                    MnrPatch, MnrPatch.change_patch_id == ChangePatch.id
                )
            )
        }
        p1, m1 = got["1201112024Q30001"]
        assert p1.source == "mnr" and p1.code == "MNR-1201112024Q30001"
        assert m1.admin_name == "西青区" and m1.change_type == "新增建设"
        assert m1.quarter == "2024Q3" and str(m1.after_date) == "2024-08-15"
        assert m1.reported_area == pytest.approx(0.65)
        assert p1.village_code == "120111001001"
        # the same rules as flight patches: half of it lies outside construction land
        assert [h["code"] for h in p1.rule_hits] == ["outside_construction_land"]
        assert p1.suggested_ruling == "illegal"
        p2, m2 = got["1201112024Q30002"]
        assert p2.rule_hits == [] and p2.suggested_ruling == "legal"
        assert str(m2.before_date) == "2024-03-01"
        # areas from the trigger, ellipsoidal
        assert p1.area_m2 == pytest.approx(86.6 * 55.6, rel=0.02)
        assert p1.area_mu == pytest.approx(p1.area_m2 * 3 / 2000)


def test_reimport_leaves_stored_patches_alone(sessions, tmp_path, imported):
    moved = box(X0 + 0.0006, Y0, X0 + 0.0016, Y0 + 0.0005)
    path = mf.write_patches(
        tmp_path / "again.shp", mf.gbk_rows(), [moved, mf.INSIDE], encoding="GBK"
    )
    with sessions() as s:
        before = s.scalar(select(func.count()).select_from(AuditLog))
    report = _import(sessions, path)
    assert report.inserted == 0
    assert report.present == ["1201112024Q30001", "1201112024Q30002"]
    assert report.differs == ["1201112024Q30001"]
    assert any("already stored" in w for w in report.warnings)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog)) == before
        assert s.scalar(select(func.count()).select_from(ChangePatch)) == 2


def test_patch_number_missing_names_file_feature_field(sessions, tmp_path):
    rows = mf.gbk_rows()
    rows[1]["图斑编号"] = None
    path = mf.write_patches(tmp_path / "wp.shp", rows, [mf.OUTSIDE, mf.INSIDE], encoding="GBK")
    with pytest.raises(InvalidInput) as e:
        _import(sessions, path)
    msg = str(e.value)
    assert str(path) in msg and "feature 2" in msg and "patch_no (图斑编号" in msg
    assert "'图斑编号'" in msg and "is empty" in msg
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ChangePatch)) == 0


def test_no_patch_number_column_and_field_map(sessions, tmp_path):
    rows = [{"NUM": "X1", "后时相": "2024-05-01"}]
    path = mf.write_patches(tmp_path / "wp.geojson", rows, [mf.INSIDE])
    with pytest.raises(InvalidInput, match=r"no patch number column .* --field-map"):
        _import(sessions, path)
    report = _import(sessions, path, field_map="NUM=patch_no")
    assert report.inserted == 1 and report.quarters == {"2024Q2": 1}


def test_bad_values_and_repeated_numbers_refused(sessions, tmp_path):
    rows = mf.gbk_rows()
    rows[0]["后时相"] = "去年"
    rows[1]["监测面积"] = "很大"
    path = mf.write_patches(tmp_path / "wp.gpkg", rows, [mf.OUTSIDE, mf.INSIDE])
    with pytest.raises(InvalidInput) as e:
        _import(sessions, path)
    msg = str(e.value)
    assert "feature 1 (图斑编号=1201112024Q30001): field after_date (后时相" in msg
    assert "feature 2 (图斑编号=1201112024Q30002): field reported_area (监测面积" in msg
    rows = mf.gbk_rows()
    rows[1]["图斑编号"] = rows[0]["图斑编号"]
    path = mf.write_patches(tmp_path / "dup.gpkg", rows, [mf.OUTSIDE, mf.INSIDE])
    with pytest.raises(InvalidInput, match="repeats in feature 1 and feature 2"):
        _import(sessions, path)


def test_quarter_needed_when_no_date(sessions, tmp_path):
    path = mf.write_patches(tmp_path / "wp.geojson", [{"TBBH": "Q1"}], [mf.INSIDE])
    with pytest.raises(InvalidInput, match=r"feature 1 \(TBBH=Q1\): no quarter .* --quarter"):
        _import(sessions, path)
    report = _import(sessions, path, quarter="2024年第四季度")
    assert report.quarters == {"2024Q4": 1}


def test_invalid_geometry_refused_unless_repair(sessions, tmp_path):
    path = mf.write_patches(tmp_path / "wp.shp", [{"TBBH": "B1", "HSX": "2024-02-01"}], [bowtie])
    with pytest.raises(InvalidInput) as e:
        _import(sessions, path)
    assert "feature 1 (TBBH=B1): Self-intersection" in str(e.value)
    assert "--repair" in str(e.value)
    report = _import(sessions, path, repair=True)
    assert report.inserted == 1 and len(report.repaired) == 1


def test_outside_china_refused(sessions, tmp_path):
    far = Polygon([(2.35, 48.85), (2.36, 48.85), (2.36, 48.86)])
    path = mf.write_patches(tmp_path / "wp.shp", [{"TBBH": "P1", "HSX": "2024-02-01"}], [far])
    with pytest.raises(CRSError, match=r"wp.shp: 1 feature\(s\) lie outside China, e.g. feature 1"):
        _import(sessions, path)


def _settings(tmp_path, **limits):
    from geo_enforce.settings import Settings

    return Settings(data_dir=tmp_path / "var", limits=LimitSettings(**limits))


def _files(tmp_path):
    root = tmp_path / "var" / "mnr_evidence"
    return sorted(root.iterdir()) if root.exists() else []


def test_evidence_is_stored_hashed_and_append_only(sessions, tmp_path, imported):
    st = _settings(tmp_path)
    jpeg = make_jpeg(X0 + 0.0007, Y0 + 0.0002)
    with transaction(sessions, "api:liaison") as s:
        photo = evidence.add_evidence(
            s, st, "1201112024Q30001", "photo", actor="api:liaison", data=jpeg, filename="a.jpg"
        ).evidence
        doc = evidence.add_evidence(
            s, st, "1201112024Q30002", "approval", actor="api:liaison", data=PDF,
            filename="批复.pdf", approval_no="津西规建〔2024〕12号",
        ).evidence  # fmt: skip
        photo_id, doc_id = photo.id, doc.id
    with sessions() as s:
        p = s.get(MnrEvidence, photo_id)
        assert p.sha256 == hashlib.sha256(jpeg).hexdigest() and p.content_type == "image/jpeg"
        assert p.taken_at is not None and p.location is not None
        path = evidence.evidence_path(st, p)
        assert path.read_bytes() == jpeg
        d = s.get(MnrEvidence, doc_id)
        assert d.kind == "approval" and d.content_type == "application/pdf"
        assert d.original_name == "批复.pdf"
        audited = s.scalar(
            select(func.count()).where(
                AuditLog.table_name == "mnr_evidence", AuditLog.actor == "api:liaison"
            )
        )
        assert audited == 2
    for sql in ("UPDATE mnr_evidence SET note = 'x'", "DELETE FROM mnr_evidence"):
        with pytest.raises(DBAPIError, match=r"append-only|never deleted"):
            with transaction(sessions, "test") as s:
                s.execute(text(sql))


@pytest.mark.parametrize(
    ("kind", "data", "limits", "error", "match"),
    [
        ("photo", PDF, {}, InvalidInput, "is pdf; accepted here: jpeg"),
        ("document", make_jpeg(), {}, InvalidInput, "is jpeg; accepted here: pdf"),
        ("document", PDF[:-7], {}, InvalidInput, "truncated PDF"),
        ("document", PDF, {"max_upload_bytes": 40}, TooLarge, "over the limit of 40 bytes"),
        ("photo", make_jpeg(size=(400, 300)), {"max_upload_pixels": 1000}, TooLarge, "pixels"),
        ("approval", None, {}, InvalidInput, "needs the approval number"),
        ("video", PDF, {}, InvalidInput, "evidence kind 'video' is unknown"),
    ],
)
def test_evidence_refusals_store_nothing(
    sessions, tmp_path, imported, kind, data, limits, error, match
):
    st = _settings(tmp_path, **limits)
    with pytest.raises(error, match=match):
        with transaction(sessions, "api:liaison") as s:
            evidence.add_evidence(
                s, st, "1201112024Q30001", kind, actor="api:liaison", data=data, filename="f"
            )
    assert _files(tmp_path) == []
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(MnrEvidence)) == 0


def test_failed_transaction_removes_the_stored_file(sessions, tmp_path, imported):
    st = _settings(tmp_path)
    with pytest.raises(RuntimeError):
        with transaction(sessions, "api:liaison") as s:
            evidence.add_evidence(
                s, st, "1201112024Q30001", "document", actor="x", data=PDF, filename="a.pdf"
            )
            assert len(_files(tmp_path)) == 1
            raise RuntimeError("later step failed")
    assert _files(tmp_path) == []


def test_ruling_rectification_versions_and_audit(sessions, tmp_path, imported):
    no = "1201112024Q30001"
    with sessions() as s:
        v0 = ruling.find_patch(s, no)[0].version
    with transaction(sessions, "api:liaison") as s:
        p = ruling.rule(s, no, "illegal", actor="api:liaison", expected_version=v0)
        assert p.rectification == "not_started" and p.status == "ruled"
        v1 = p.version
    assert v1 > v0
    with pytest.raises(StaleVersion):
        with transaction(sessions, "api:other") as s:
            ruling.set_rectification(s, no, "done", expected_version=v0)
    with transaction(sessions, "api:liaison") as s:
        p = ruling.set_rectification(s, no, "in_progress", expected_version=v1)
        assert p.rectification == "in_progress"
    with pytest.raises(InvalidInput, match="unknown"):
        with transaction(sessions, "x") as s:
            ruling.set_rectification(s, no, "finished", expected_version=None)
    # legal needs an approval number, given or filed as 举证
    with pytest.raises(InvalidInput, match="批准文号"):
        with transaction(sessions, "x") as s:
            ruling.rule(s, "1201112024Q30002", "legal", actor="x", expected_version=None)
    with pytest.raises(InvalidInput, match="only illegal patches are rectified"):
        with transaction(sessions, "x") as s:
            ruling.set_rectification(s, "1201112024Q30002", "done", expected_version=None)
    with transaction(sessions, "api:liaison") as s:
        evidence.add_evidence(
            s, _settings(tmp_path), "1201112024Q30002", "approval", actor="api:liaison",
            approval_no="津西规〔2024〕7号",
        )  # fmt: skip
        p = ruling.rule(s, "1201112024Q30002", "legal", actor="api:liaison", expected_version=None)
        assert p.approval_no == "津西规〔2024〕7号" and p.rectification is None
    with sessions() as s:
        actions = s.execute(
            select(AuditLog.actor, AuditLog.new_row["rectification"].astext)
            .where(AuditLog.table_name == "change_patch", AuditLog.action == "update")
            .order_by(AuditLog.id)
        ).all()
        assert ("api:liaison", "in_progress") in actions
    with pytest.raises(NotFound):
        with transaction(sessions, "x") as s:
            ruling.rule(s, "NOPE", "illegal", actor="x", expected_version=None)


def test_quarterly_table_counts_areas_and_xlsx(sessions, tmp_path, imported):
    third = mf.write_patches(
        tmp_path / "q4.geojson", [{"TBBH": "Q4-1", "HSX": "2024-11-02"}], [mf.THIRD]
    )
    _import(sessions, third)
    with transaction(sessions, "x") as s:
        ruling.rule(s, "1201112024Q30001", "illegal", actor="x", expected_version=None)
        ruling.set_rectification(s, "1201112024Q30001", "done", expected_version=None)
        ruling.rule(s, "1201112024Q30002", "false_change", actor="x", expected_version=None)
        a1, a2 = (
            s.scalars(select(ChangePatch.area_m2).where(ChangePatch.source_no == n)).one()
            for n in ("1201112024Q30001", "1201112024Q30002")
        )
    with sessions() as s:
        t = quarterly.quarter_table(s, "2024年第三季度")
    rows = {r.ruling: r for r in t.rows}
    assert [r.ruling for r in t.rows] == ["legal", "illegal", "other", "false_change", "pending"]
    assert rows["illegal"].count == 1 and rows["illegal"].area_m2 == pytest.approx(a1)
    assert rows["illegal"].done == 1 and rows["illegal"].not_started == 0
    assert rows["false_change"].count == 1 and rows["false_change"].area_m2 == pytest.approx(a2)
    assert rows["pending"].count == 0  # the Q4 patch is another quarter
    assert t.total.count == 2 and t.total.area_mu == pytest.approx((a1 + a2) * 3 / 2000)
    d = t.as_dict()
    assert d["label"] == "2024年第三季度" and d["total"]["count"] == 2

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(quarterly.quarter_xlsx(t)))
    ws = wb.worksheets[0]
    assert ws["A1"].value == "2024年第三季度卫片执法图斑认定情况统计表"
    assert [c.value for c in ws[3]][:4] == [
        "认定结果",
        "图斑数（个）",
        "面积（平方米）",
        "面积（亩）",
    ]
    assert ws["A4"].value == "合法" and ws["A9"].value == "合计"
    assert ws["B9"].value == "=SUM(B4:B8)" and ws["C9"].value == "=SUM(C4:C8)"
    assert ws["C5"].value == pytest.approx(a1)
    assert ws.page_setup.orientation == "landscape" and ws.print_title_rows == "$3:$3"


def test_quarter_parsing():
    assert quarterly.parse_quarter("2024q2") == "2024Q2"
    assert quarterly.parse_quarter("2024-Q1") == "2024Q1"
    assert quarterly.parse_quarter("2023年第四季度") == "2023Q4"
    assert quarterly.parse_quarter("2023年3季度") == "2023Q3"
    for bad in ("2024Q5", "Q3", "第三季度", "1850Q1"):
        with pytest.raises(InvalidInput):
            quarterly.parse_quarter(bad)


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch, capsys):
    from geo_enforce.cli import common
    from tests.support.guarded_cli import run

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("GEO_ENFORCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GEO_ENFORCE_ACTOR", "cli:tester")
    common.settings.cache_clear()
    common.engine.cache_clear()
    yield lambda *argv: run(["mnr", *argv], capsys)
    common.engine().dispose()
    common.settings.cache_clear()
    common.engine.cache_clear()


def test_cli_import_evidence_rule_quarterly(cli, sessions, tmp_path):
    mf.seed_village(sessions)
    path = mf.write_patches(
        tmp_path / "wp.shp", mf.gbk_rows(), [mf.OUTSIDE, mf.INSIDE], encoding="GBK"
    )
    code, out = cli("import", path, "--dry-run")
    assert code == 0 and "试运行" in out
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ChangePatch)) == 0
    code, out = cli("import", path, "--json")
    assert code == 0, out
    assert '"inserted": 2' in out
    code, out = cli("import", path)
    assert code == 0 and "已存在" in out
    pdf = tmp_path / "批复.pdf"
    pdf.write_bytes(PDF)
    code, out = cli("evidence", "1201112024Q30002", "approval", "--file", pdf,
                    "--approval-no", "津西规〔2024〕7号")  # fmt: skip
    assert code == 0 and "已登记举证" in out, out
    code, out = cli("evidence", "1201112024Q30002", "photo", "--file", pdf)
    assert code == 2 and "错误" in out and "accepted here: jpeg" in out
    code, out = cli("rule", "1201112024Q30002", "legal")
    assert code == 0 and "认定为合法" in out, out
    code, out = cli("rule", "1201112024Q30001", "illegal", "--version", "99")
    assert code == 2 and "version" in out
    code, out = cli("rule", "1201112024Q30001", "illegal")
    assert code == 0
    code, out = cli("rectify", "1201112024Q30001", "in_progress")
    assert code == 0 and "整改中" in out
    code, out = cli("quarterly", "2024Q3", "--json")
    assert code == 0, out
    assert '"count": 2' in out
    xlsx = tmp_path / "q.xlsx"
    code, out = cli("quarterly", "2024Q3", "--out", xlsx)
    assert code == 0 and xlsx.stat().st_size > 0
    code, out = cli("quarterly", "2024Q3")
    assert code == 0 and "合计" in out and "整改中" in out
    code, out = cli("list", "--ruling", "illegal")
    assert code == 0 and "1201112024Q30001" in out and "1201112024Q30002" not in out
    with sessions() as s:
        actors = set(s.scalars(select(AuditLog.actor).where(AuditLog.table_name == "mnr_evidence")))
    assert actors == {"cli:tester"}


def test_rules_again_after_a_layer_changed(sessions, imported):
    from geoalchemy2.shape import from_shape
    from shapely.geometry import MultiPolygon

    from geo_enforce.storage.models import RedLine

    with transaction(sessions, "x") as s:
        ruling.rule(s, "1201112024Q30002", "other", actor="x", expected_version=None)
        s.add(
            RedLine(
                code="JBNT-1",
                kind="basic_farmland",
                geom=from_shape(MultiPolygon([box(X0, Y0, X0 + 0.002, Y0 + 0.002)]), srid=4490),
            )
        )
    with transaction(sessions, "x") as s:
        assert imports.rerun_rules(s, quarter="2024Q3") == 1  # the ruled patch is left alone
    with sessions() as s:
        hits = {r[0]: r[1] for r in s.execute(select(ChangePatch.source_no, ChangePatch.rule_hits))}
    assert "basic_farmland" in [h["code"] for h in hits["1201112024Q30001"]]
    assert hits["1201112024Q30002"] == []


def test_ruled_ministry_patches_do_not_train_the_ranker(sessions, imported):
    from geo_enforce.detection.learn import ruled_patches

    with transaction(sessions, "x") as s:
        ruling.rule(s, "1201112024Q30002", "false_change", actor="x", expected_version=None)
    with sessions() as s:
        assert ruled_patches(s) == []
