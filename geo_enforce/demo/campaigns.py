"""Demo: the sample townships' campaigns (专项治理) and the 占压 rule hits.

Four campaigns in the bureaus' words, registered once (running the demo again reuses them and
tags what the scope takes now), each of its township (a campaign takes its own township's
cases only):

- the town: 违建别墅专项治理 (2024): villas, 6 households; 三年拆违 (2022-2024): every case,
  45000 m² ("已完成三年拆违任务"); 占压燃气专项整治 (2024-2028): cases within the gas main's
  safety distance, 5 cases;
- the subdistrict: 占压燃气小院整治 (2024-2025): "天润小区5处占压燃气小院", 5 cases.

:func:`demo_campaigns` returns their progress (today) and the structures within the safety
distance of a line (:mod:`geo_enforce.ledger.pipelines`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from geo_enforce.demo.sample import SUBDISTRICT_CODE, TOWN_CODE
from geo_enforce.errors import NotFound
from geo_enforce.ledger import campaigns as camp
from geo_enforce.ledger import pipelines
from geo_enforce.storage.engine import transaction
from geo_enforce.storage.scope import town_codes

CAMPAIGNS: tuple[dict[str, Any], ...] = (
    {"code": "WJBS-2024", "name": "违建别墅专项治理", "starts_on": dt.date(2024, 1, 1),
     "ends_on": dt.date(2024, 12, 31), "target_count": 6, "count_unit": "household",
     "categories": ["villa"], "township": TOWN_CODE},
    {"code": "SNCW-2022", "name": "三年拆违", "starts_on": dt.date(2022, 1, 1),
     "ends_on": dt.date(2024, 12, 31), "target_m2": 45000.0, "township": TOWN_CODE},
    {"code": "ZYRQ-2024", "name": "占压燃气专项整治", "starts_on": dt.date(2024, 1, 1),
     "ends_on": dt.date(2028, 12, 31), "target_count": 5, "rules": ["encroach_gas"],
     "township": TOWN_CODE},
    {"code": "BH-ZYXY-2024", "name": "占压燃气小院整治", "starts_on": dt.date(2024, 1, 1),
     "ends_on": dt.date(2025, 12, 31), "target_count": 5, "categories": ["courtyard"],
     "rules": ["encroach_gas"], "township": SUBDISTRICT_CODE},
)  # fmt: skip


def _ensure(session: Session, spec: dict[str, Any]):
    try:
        return camp.find_campaign(session, spec["code"])
    except NotFound:
        return camp.create_campaign(session, **spec)


def demo_campaigns(
    factory: sessionmaker[Session], *, actor: str = "cli:demo", as_of: dt.date | None = None
) -> dict[str, Any]:
    """Register the demo campaigns (once) of the townships loaded, tag by scope; their
    progress and the line hits."""
    with transaction(factory, actor) as session:
        towns = set(town_codes(session))
        specs = [c for c in CAMPAIGNS if c["township"] in towns]
        for spec in specs:
            camp.apply_scope(session, _ensure(session, spec))
    with factory() as session:
        progress = [camp.progress(session, camp.find_campaign(session, c["code"]), as_of)
                    for c in specs]  # fmt: skip
        hits = pipelines.hits(session, target="structure")
    return {"progress": progress, "hits": hits}
