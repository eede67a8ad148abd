"""Targets and campaigns (专项治理): "违建别墅专项治理", "三年拆违", "占压燃气专项整治".

A campaign has a name, a period (``starts_on`` … ``ends_on``), a scope and a target: an area in
m² and/or a count of cases (处) or households (户). The scope narrows which structure cases
belong to it: villages (or communities), categories, and rules (a case must hit at least one
of the rules when any are given):

- line rules ``encroach_<kind>`` (占压燃气管线 …, :mod:`geo_enforce.ledger.pipelines`),
- red-line rules ``outside_construction_land`` (超出建设用地红线), ``basic_farmland``,
  ``ecological``, ``road``, ``river_blue`` (an overlap of at least 1 m²), as the change
  detection rules define them.

Cases are tagged to a campaign by its scope (:func:`apply_scope`, ``method='rule'``) or by hand
(:func:`tag`, ``method='hand'`` with a reason); each tag records who (the transaction's audit
actor) and when, and the audit trigger keeps every change. Untagging retires the tag; a case
untagged by hand is not tagged again by the scope. Cases already demolished before the campaign
started, and cases dismissed or legalized, are not tagged by the scope.

**Progress** (:func:`progress`) counts the tagged cases demolished within the period (up to the
day asked): cases, households and area, the area being the sum of the stored, trigger-maintained
``area_m2`` (ellipsoidal m² on CGCS2000; nothing is measured in Python). A target is met when
every target given is reached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo_enforce.detection.rules import RULES as DETECTION_RULES
from geo_enforce.errors import Conflict, InvalidInput, NotFound
from geo_enforce.io import sanity
from geo_enforce.io.catalogue import Catalogue
from geo_enforce.ledger import vocab
from geo_enforce.ledger.pipelines import LINE_RULES, near_line_sql, safety_distances
from geo_enforce.storage.campaigns import Campaign, CampaignCase
from geo_enforce.storage.locking import check_version
from geo_enforce.storage.models import AdminArea, Structure

#: red-line rules usable in a scope (labels as the change detection shows them)
RED_LINE_RULES = ("outside_construction_land", "basic_farmland", "ecological", "road", "river_blue")
#: every rule a campaign scope may name → Chinese label
SCOPE_RULES: dict[str, str] = {
    **{r: DETECTION_RULES[r] for r in RED_LINE_RULES},
    **LINE_RULES,
}
#: an overlap smaller than this (m²) is edge noise, as in the detection rules
MIN_OVERLAP_M2 = 1.0
#: statuses the scope never tags (not a violation, or nothing to do)
UNTAGGED_STATUSES = ("dismissed", "legalized")
#: how far ahead a campaign's end may lie
PLAN_AHEAD = dt.timedelta(days=3653)
#: editable fields of a campaign
FIELDS = (
    "name",
    "starts_on",
    "ends_on",
    "target_m2",
    "target_count",
    "count_unit",
    "scope_villages",
    "scope_categories",
    "scope_rules",
    "notes",
)


def current_actor(session: Session) -> str:
    """The audit actor of the current transaction (``cli:<login>``, ``api:<user>``, …)."""
    return str(session.scalar(text("SELECT ge_audit_actor()")))


# --- campaigns ---------------------------------------------------------------------------------


def _check_scope(session: Session, values: dict[str, Any], what: str) -> None:
    villages = list(values.get("scope_villages") or [])
    if villages:
        known = set(
            session.scalars(
                select(AdminArea.code).where(
                    AdminArea.code.in_(villages),
                    AdminArea.level.in_(("village", "community")),
                    AdminArea.retired_at.is_(None),
                )
            )
        )
        missing = [v for v in villages if v not in known]
        if missing:
            raise InvalidInput(
                f"{what}: scope village '{missing[0][:40]}' is not the code of a current "
                "village or community in admin_area"
            )
    for c in values.get("scope_categories") or []:
        if c not in vocab.STRUCTURE_CATEGORIES:
            raise InvalidInput(
                f"{what}: scope category '{str(c)[:30]}' is unknown; use "
                + ", ".join(f"{k} ({v})" for k, v in vocab.STRUCTURE_CATEGORIES.items())
            )
    for r in values.get("scope_rules") or []:
        if r not in SCOPE_RULES:
            raise InvalidInput(
                f"{what}: scope rule '{str(r)[:40]}' is unknown; use "
                + ", ".join(f"{k} ({v})" for k, v in SCOPE_RULES.items())
            )


def _check(session: Session, c: Campaign) -> None:
    """Refuse an inconsistent campaign before it is written, naming the field."""
    what = f"campaign {c.code}"
    if not (c.name or "").strip():
        raise InvalidInput(f"{what}: a campaign needs a name (e.g. 违建别墅专项治理)")
    sanity.check_date(c.starts_on, "starts_on")
    # a campaign may be planned years ahead (三年行动): its end only has to be within 10 years
    if not sanity.EARLIEST_DATE <= c.ends_on <= sanity.beijing_today() + PLAN_AHEAD:
        raise InvalidInput(f"{what}: ends_on {c.ends_on} is not a plausible end; check the year")
    if c.ends_on < c.starts_on:
        raise InvalidInput(f"{what}: ends_on {c.ends_on} is before starts_on {c.starts_on}")
    if c.target_m2 is None and c.target_count is None:
        raise InvalidInput(f"{what}: give a target area (target_m2) or count (target_count)")
    if c.target_m2 is not None and not 0 < c.target_m2 < 1e10:
        raise InvalidInput(f"{what}: target_m2 must be a positive area in m²")
    if c.target_count is not None and not 0 < c.target_count < 10**9:
        raise InvalidInput(f"{what}: target_count must be a positive count")
    if c.count_unit not in vocab.CAMPAIGN_COUNT_UNITS:
        raise InvalidInput(f"{what}: count_unit must be case (处) or household (户)")
    _check_scope(
        session,
        {
            "scope_villages": c.scope_villages,
            "scope_categories": c.scope_categories,
            "scope_rules": c.scope_rules,
        },
        what,
    )


def create_campaign(
    session: Session,
    *,
    code: str,
    name: str,
    starts_on: dt.date,
    ends_on: dt.date,
    target_m2: float | None = None,
    target_count: int | None = None,
    count_unit: str = "case",
    villages: Iterable[str] = (),
    categories: Iterable[str] = (),
    rules: Iterable[str] = (),
    notes: str | None = None,
    township: str | None = None,
) -> Campaign:
    """Register a campaign (nothing is written when a field is wrong). Flushes.

    ``township`` (a town code): the township whose cases it takes; empty: the deployment's one
    township, or the caller's one (the database refuses a campaign without a township while
    several exist, naming them).
    """
    code = (code or "").strip()
    if not code or len(code) > 60:
        raise InvalidInput("a campaign needs a code of 1-60 characters (e.g. WJBS-2024)")
    if session.scalar(select(Campaign.id).where(Campaign.code == code)) is not None:
        raise Conflict(f"campaign {code} exists already; choose another code")
    c = Campaign(
        code=code,
        name=(name or "").strip(),
        starts_on=starts_on,
        ends_on=ends_on,
        target_m2=target_m2,
        target_count=target_count,
        count_unit=count_unit,
        scope_villages=list(dict.fromkeys(villages)),
        scope_categories=list(dict.fromkeys(categories)),
        scope_rules=list(dict.fromkeys(rules)),
        notes=notes,
        township_code=(township or "").strip() or None,
    )
    _check(session, c)
    session.add(c)
    session.flush()
    return c


def update_campaign(
    session: Session, campaign: Campaign, values: dict[str, Any], *, expected_version: int | None
) -> Campaign:
    """Change fields of ``campaign`` (:data:`FIELDS`), checked as on creation. Flushes."""
    check_version(campaign, expected_version, f"campaign {campaign.code}")
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"campaign fields {sorted(unknown)} cannot be edited; fields: {FIELDS}")
    for k in ("name", "starts_on", "ends_on", "count_unit"):
        if k in values and values[k] is None:
            raise InvalidInput(f"campaign {campaign.code}: {k} cannot be emptied")
    for k, v in values.items():
        setattr(campaign, k, list(dict.fromkeys(v or [])) if k.startswith("scope_") else v)
    _check(session, campaign)
    session.flush()
    return campaign


def find_campaign(session: Session, ref: str | int) -> Campaign:
    """The current campaign with code (or id) ``ref``; NotFound otherwise."""
    cond = Campaign.code == str(ref)
    if isinstance(ref, int) or (str(ref).isascii() and str(ref).isdigit() and len(str(ref)) < 19):
        cond = cond | (Campaign.id == int(ref))
    c = session.scalar(select(Campaign).where(cond, Campaign.retired_at.is_(None)))
    if c is None:
        raise NotFound(f"campaign '{str(ref)[:60]}' does not exist (or was retired)")
    return c


def campaigns(
    session: Session,
    *,
    active_in: tuple[dt.date, dt.date] | None = None,
    township: str | None = None,
) -> list[Campaign]:
    """Current campaigns by start date and code; with ``active_in`` only those whose period
    meets that interval; with ``township`` only that township's."""
    q = select(Campaign).where(Campaign.retired_at.is_(None))
    if township is not None:
        q = q.where(Campaign.township_code == township)
    if active_in is not None:
        q = q.where(Campaign.starts_on <= active_in[1], Campaign.ends_on >= active_in[0])
    return list(session.scalars(q.order_by(Campaign.starts_on, Campaign.code)))


def retire_campaign(session: Session, campaign: Campaign, *, reason: str) -> Campaign:
    """Retire (never delete) a campaign; its tags stay as they were. Flushes."""
    if not reason or not reason.strip():
        raise InvalidInput(f"campaign {campaign.code}: retiring needs a reason")
    who = current_actor(session)  # before any change: the query would flush half a retire
    campaign.retired_at = dt.datetime.now(dt.UTC)
    campaign.retired_by = who
    campaign.retire_reason = reason.strip()
    session.flush()
    return campaign


# --- scope and tags ----------------------------------------------------------------------------


def _rule_sql(rule: str, distances: dict[str, float], n: int) -> tuple[str, dict[str, Any]]:
    """SQL condition on ``s`` (a structure row) for scope rule ``rule``, with params."""
    if rule in LINE_RULES:
        return near_line_sql("s.geom", [rule.removeprefix("encroach_")], distances, tag=f"r{n}")
    if rule == "outside_construction_land":
        sql = (
            "(SELECT CASE WHEN u IS NULL THEN s.area_m2 "
            "ELSE ST_Area(ST_Difference(s.geom, u)::geography) END FROM "
            "(SELECT ST_Union(r.geom) AS u FROM red_line r WHERE r.retired_at IS NULL "
            "AND r.kind = 'construction_land' AND r.geom && s.geom) cl) >= :min_m2"
        )
        return sql, {"min_m2": MIN_OVERLAP_M2}
    overlap = (
        "SELECT 1 FROM {t} r WHERE r.retired_at IS NULL AND {cond} AND r.geom && s.geom "
        "AND ST_Area(ST_Intersection(r.geom, s.geom)::geography) >= :min_m2"
    )
    sql = "EXISTS (" + overlap.format(t="red_line", cond=f"r.kind = :r{n}_kind") + ")"
    if rule == "basic_farmland":  # permanent basic farmland parcels count too, as in detection
        sql = (
            f"({sql} OR EXISTS ("
            + overlap.format(t="farmland_parcel", cond="r.is_permanent_basic")
            + "))"
        )
    return sql, {f"r{n}_kind": rule, "min_m2": MIN_OVERLAP_M2}


def scope_matches(
    session: Session, campaign: Campaign, *, catalogue: Catalogue | None = None
) -> dict[int, list[str]]:
    """Structure id → the scope rules it hits (empty when the scope names no rule), for the
    current cases the scope takes (see the module doc)."""
    params: dict[str, Any] = {
        "statuses": list(UNTAGGED_STATUSES),
        "starts": campaign.starts_on,
        "ends": campaign.ends_on,
    }
    where = [
        "s.retired_at IS NULL",
        "s.status <> ALL(:statuses)",
        "(s.demolished_on IS NULL OR s.demolished_on >= :starts)",
        "(s.discovered_on IS NULL OR s.discovered_on <= :ends)",
    ]
    if campaign.township_code is not None:  # a campaign takes its own township's cases only
        where.append("s.township_code = :township")
        params["township"] = campaign.township_code
    if campaign.scope_villages:
        where.append("s.village_code = ANY(:villages)")
        params["villages"] = list(campaign.scope_villages)
    if campaign.scope_categories:
        where.append("s.category = ANY(:categories)")
        params["categories"] = list(campaign.scope_categories)
    rules = list(campaign.scope_rules or [])
    distances = safety_distances(catalogue) if any(r in LINE_RULES for r in rules) else {}
    hit_cols = []
    for n, rule in enumerate(rules):
        sql, p = _rule_sql(rule, distances, n)
        params.update(p)
        hit_cols.append(f"({sql}) AS hit{n}")
    select_hits = ", " + ", ".join(hit_cols) if hit_cols else ""
    rows = session.execute(
        text(
            f"SELECT s.id{select_hits} FROM structure s WHERE {' AND '.join(where)} ORDER BY s.id"
        ),
        params,
    ).all()
    out: dict[int, list[str]] = {}
    for row in rows:
        hit = [rule for n, rule in enumerate(rules) if row[n + 1]]
        if rules and not hit:
            continue
        out[int(row[0])] = hit
    return out


@dataclass
class TagResult:
    """What :func:`apply_scope` did: cases tagged now, already tagged, and left out because
    someone untagged them by hand."""

    added: list[str] = field(default_factory=list)
    already: int = 0
    untagged_by_hand: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        return asdict(self)


def _tags(session: Session, campaign: Campaign) -> list[CampaignCase]:
    return list(
        session.scalars(select(CampaignCase).where(CampaignCase.campaign_id == campaign.id))
    )


def apply_scope(
    session: Session, campaign: Campaign, *, catalogue: Catalogue | None = None
) -> TagResult:
    """Tag every case the scope takes that is not tagged yet (``method='rule'``, the matched
    rules as the reason); cases untagged by hand stay out. Flushes."""
    matches = scope_matches(session, campaign, catalogue=catalogue)
    res = TagResult()
    current = {t.structure_id for t in _tags(session, campaign) if t.retired_at is None}
    removed = {t.structure_id for t in _tags(session, campaign) if t.retired_at is not None}
    actor, now = current_actor(session), dt.datetime.now(dt.UTC)
    new_ids = [i for i in matches if i not in current and i not in removed]
    res.already = sum(1 for i in matches if i in current)
    res.untagged_by_hand = sum(1 for i in matches if i in removed and i not in current)
    case_nos = dict(
        session.execute(
            select(Structure.id, Structure.case_no).where(Structure.id.in_(new_ids))
        ).all()
    )
    for sid in new_ids:
        hit = matches[sid]
        reason = "范围：" + ("、".join(SCOPE_RULES[r] for r in hit) if hit else "村/类别")
        session.add(
            CampaignCase(
                campaign_id=campaign.id,
                structure_id=sid,
                method="rule",
                tagged_by=actor,
                tagged_at=now,
                reason=reason,
            )
        )
        res.added.append(case_nos[sid])
    session.flush()
    res.added.sort()
    return res


def _current_tag(session: Session, campaign: Campaign, structure: Structure) -> CampaignCase | None:
    return session.scalar(
        select(CampaignCase).where(
            CampaignCase.campaign_id == campaign.id,
            CampaignCase.structure_id == structure.id,
            CampaignCase.retired_at.is_(None),
        )
    )


def tag(session: Session, campaign: Campaign, structure: Structure, *, reason: str) -> CampaignCase:
    """Tag ``structure`` to ``campaign`` by hand, with a reason; who and when are recorded.
    Conflict when it is tagged already. Flushes."""
    what = f"campaign {campaign.code}, case {structure.case_no}"
    if not reason or not reason.strip():
        raise InvalidInput(f"{what}: tagging by hand needs a reason (依据)")
    if structure.retired_at is not None:
        raise NotFound(f"structure {structure.case_no} was retired")
    if campaign.township_code and structure.township_code not in (None, campaign.township_code):
        raise InvalidInput(
            f"{what}: the case belongs to township {structure.township_code}, the campaign to "
            f"{campaign.township_code}"
        )
    if _current_tag(session, campaign, structure) is not None:
        raise Conflict(f"{what}: the case is tagged to this campaign already")
    t = CampaignCase(
        campaign_id=campaign.id,
        structure_id=structure.id,
        method="hand",
        tagged_by=current_actor(session),
        tagged_at=dt.datetime.now(dt.UTC),
        reason=reason.strip(),
    )
    session.add(t)
    session.flush()
    return t


def untag(
    session: Session, campaign: Campaign, structure: Structure, *, reason: str
) -> CampaignCase:
    """Take ``structure`` out of ``campaign`` (the tag is retired with the reason, and the scope
    will not tag it again). NotFound when it is not tagged. Flushes."""
    what = f"campaign {campaign.code}, case {structure.case_no}"
    if not reason or not reason.strip():
        raise InvalidInput(f"{what}: untagging needs a reason")
    t = _current_tag(session, campaign, structure)
    if t is None:
        raise NotFound(f"{what}: the case is not tagged to this campaign")
    who = current_actor(session)
    t.retired_at = dt.datetime.now(dt.UTC)
    t.retired_by = who
    t.retire_reason = reason.strip()
    session.flush()
    return t


@dataclass(frozen=True)
class TaggedCase:
    """A case of a campaign with how it got there."""

    structure_id: int
    case_no: str
    village_code: str | None
    village: str
    category: str
    status: str
    households: int
    area_m2: float
    demolished_on: dt.date | None
    method: str
    tagged_by: str
    tagged_at: dt.datetime
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The case as JSON-ready values."""
        d = asdict(self)
        d["demolished_on"] = self.demolished_on.isoformat() if self.demolished_on else None
        d["tagged_at"] = self.tagged_at.isoformat()
        return d


def tagged_cases(session: Session, campaign: Campaign) -> list[TaggedCase]:
    """The cases currently tagged to ``campaign``, by case number."""
    v = AdminArea.__table__.alias("v")
    s = Structure.__table__
    t = CampaignCase.__table__
    rows = session.execute(
        select(
            s.c.id, s.c.case_no, s.c.village_code, v.c.name, s.c.category, s.c.status,
            s.c.households, s.c.area_m2, s.c.demolished_on, t.c.method, t.c.tagged_by,
            t.c.tagged_at, t.c.reason,
        )
        .select_from(
            t.join(s, s.c.id == t.c.structure_id).outerjoin(
                v, (v.c.code == s.c.village_code) & v.c.retired_at.is_(None)
            )
        )
        .where(t.c.campaign_id == campaign.id, t.c.retired_at.is_(None), s.c.retired_at.is_(None))
        .order_by(s.c.case_no)
    ).all()  # fmt: skip
    return [
        TaggedCase(
            structure_id=int(r[0]), case_no=r[1], village_code=r[2], village=r[3] or (r[2] or ""),
            category=r[4], status=r[5], households=int(r[6] or 0), area_m2=float(r[7]),
            demolished_on=r[8], method=r[9], tagged_by=r[10], tagged_at=r[11], reason=r[12],
        )
        for r in rows
    ]  # fmt: skip


# --- progress ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VillageDone:
    """Demolished cases of a campaign in one village: count, households, area (m²)."""

    village_code: str | None
    village: str
    count: int
    households: int
    area_m2: float


@dataclass(frozen=True)
class CampaignProgress:
    """A campaign's figures on ``as_of``: tagged and demolished (within the period, up to
    ``as_of``) cases, households and stored areas (m², unrounded) against the targets."""

    code: str
    name: str
    starts_on: dt.date
    ends_on: dt.date
    as_of: dt.date
    target_m2: float | None
    target_count: int | None
    count_unit: str
    tagged_count: int
    tagged_households: int
    tagged_m2: float
    done_count: int
    done_households: int
    done_m2: float
    by_village: tuple[VillageDone, ...] = ()

    @property
    def done_units(self) -> int:
        """Demolished in the unit of the count target: cases or households."""
        return self.done_households if self.count_unit == "household" else self.done_count

    @property
    def share_m2(self) -> float | None:
        """Demolished area over the target area (1.0 = met), None without an area target."""
        return self.done_m2 / self.target_m2 if self.target_m2 else None

    @property
    def share_count(self) -> float | None:
        """Demolished count over the target count, None without a count target."""
        return self.done_units / self.target_count if self.target_count else None

    @property
    def share(self) -> float:
        """The lesser share of the targets given (the campaign is as far as its laggard)."""
        shares = [x for x in (self.share_m2, self.share_count) if x is not None]
        return min(shares) if shares else 0.0

    @property
    def met(self) -> bool:
        """Every target given is reached."""
        return self.share >= 1.0

    @property
    def state(self) -> str:
        """``met``, ``not_started``, ``running`` or ``ended`` (ended without meeting it)."""
        if self.met:
            return "met"
        if self.as_of < self.starts_on:
            return "not_started"
        return "running" if self.as_of <= self.ends_on else "ended"

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values (areas unrounded, m²)."""
        d = asdict(self)
        for k in ("starts_on", "ends_on", "as_of"):
            d[k] = getattr(self, k).isoformat()
        d.update(
            done_units=self.done_units,
            share_m2=self.share_m2,
            share_count=self.share_count,
            share=self.share,
            met=self.met,
            state=self.state,
        )
        return d


def progress(
    session: Session,
    campaign: Campaign,
    as_of: dt.date | None = None,
    *,
    since: dt.date | None = None,
) -> CampaignProgress:
    """The figures of ``campaign`` on ``as_of`` (default today in Beijing): tagged cases, and those
    demolished from the start (or ``since``, when later: e.g. one report year) up to ``as_of``
    and the end of the period. Areas are the stored ``area_m2`` summed in SQL (m²)."""
    day = as_of or sanity.beijing_today()
    lo = max(campaign.starts_on, since) if since else campaign.starts_on
    hi = min(campaign.ends_on, day)
    rows = session.execute(
        text(
            """
            SELECT s.village_code, coalesce(v.name, s.village_code, '') AS village,
                   count(*) AS n, coalesce(sum(s.households), 0) AS hh,
                   coalesce(sum(s.area_m2), 0) AS m2,
                   count(*) FILTER (WHERE d) AS dn,
                   coalesce(sum(s.households) FILTER (WHERE d), 0) AS dhh,
                   coalesce(sum(s.area_m2) FILTER (WHERE d), 0) AS dm2
            FROM campaign_case t
            JOIN structure s ON s.id = t.structure_id AND s.retired_at IS NULL
            LEFT JOIN admin_area v ON v.code = s.village_code AND v.retired_at IS NULL
            CROSS JOIN LATERAL (SELECT s.status = 'demolished' AND s.demolished_on
                                BETWEEN :lo AND :hi AS d) dd
            WHERE t.campaign_id = :cid AND t.retired_at IS NULL
            GROUP BY s.village_code, v.name
            """
        ),
        {"cid": campaign.id, "lo": lo, "hi": hi},
    ).all()
    by_village = tuple(
        sorted(
            (
                VillageDone(r.village_code, r.village, int(r.dn), int(r.dhh), float(r.dm2))
                for r in rows
                if r.dn
            ),
            key=lambda v: (-v.area_m2, v.village),
        )
    )
    return CampaignProgress(
        code=campaign.code,
        name=campaign.name,
        starts_on=campaign.starts_on,
        ends_on=campaign.ends_on,
        as_of=day,
        target_m2=campaign.target_m2,
        target_count=campaign.target_count,
        count_unit=campaign.count_unit,
        tagged_count=sum(int(r.n) for r in rows),
        tagged_households=sum(int(r.hh) for r in rows),
        tagged_m2=sum(float(r.m2) for r in rows),
        done_count=sum(int(r.dn) for r in rows),
        done_households=sum(int(r.dhh) for r in rows),
        done_m2=sum(float(r.dm2) for r in rows),
        by_village=by_village,
    )


def all_progress(session: Session, as_of: dt.date | None = None) -> list[CampaignProgress]:
    """:func:`progress` of every current campaign."""
    return [progress(session, c, as_of) for c in campaigns(session)]


def tag_count(session: Session, campaign: Campaign) -> int:
    """How many cases are tagged to ``campaign`` now."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(CampaignCase)
            .where(CampaignCase.campaign_id == campaign.id, CampaignCase.retired_at.is_(None))
        )
        or 0
    )
