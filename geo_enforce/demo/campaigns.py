"""Demo: the sample township's campaigns (专项治理) and its 占压 rule hits.

Three campaigns in the bureaus' words, registered once (running the demo again reuses them and
tags what the scope takes now):

- 违建别墅专项治理 (2024): villas, 6 households;
- 三年拆违 (2022-2024): every case, 45000 m² ("已完成三年拆违任务");
- 占压燃气专项整治 (2024-2028): cases within the gas main's safety distance, 5 cases.

:func:`demo_campaigns` returns their progress (today) and the structures within the safety
distance of a line (:mod:`geo_enforce.ledger.pipelines`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.errors import NotFound
from geo_enforce.ledger import campaigns as camp
from geo_enforce.ledger import pipelines
from geo_enforce.storage.engine import transaction

CAMPAIGNS: tuple[dict[str, Any], ...] = (
    {"code": "WJBS-2024", "name": "违建别墅专项治理", "starts_on": dt.date(2024, 1, 1),
     "ends_on": dt.date(2024, 12, 31), "target_count": 6, "count_unit": "household",
     "categories": ["villa"]},
    {"code": "SNCW-2022", "name": "三年拆违", "starts_on": dt.date(2022, 1, 1),
     "ends_on": dt.date(2024, 12, 31), "target_m2": 45000.0},
    {"code": "ZYRQ-2024", "name": "占压燃气专项整治", "starts_on": dt.date(2024, 1, 1),
     "ends_on": dt.date(2028, 12, 31), "target_count": 5, "rules": ["encroach_gas"]},
)  # fmt: skip


def _ensure(session: Session, spec: dict[str, Any]):
    try:
        return camp.find_campaign(session, spec["code"])
    except NotFound:
        return camp.create_campaign(session, **spec)


def demo_campaigns(
    factory: sessionmaker[Session], *, actor: str = "cli:demo", as_of: dt.date | None = None
) -> dict[str, Any]:
    """Register the demo campaigns (once), tag by scope; their progress and the line hits."""
    with transaction(factory, actor) as session:
        for spec in CAMPAIGNS:
            camp.apply_scope(session, _ensure(session, spec))
    with factory() as session:
        progress = [camp.progress(session, camp.find_campaign(session, c["code"]), as_of)
                    for c in CAMPAIGNS]  # fmt: skip
        hits = pipelines.hits(session, target="structure")
    return {"progress": progress, "hits": hits}
