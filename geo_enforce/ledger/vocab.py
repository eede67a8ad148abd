"""Controlled vocabularies with their Chinese labels.

Identifiers are English (stored in the database, used in code and the API); the Chinese label is
what users see on the map, in popups and in reports.
"""

from __future__ import annotations

ADMIN_LEVELS: dict[str, str] = {
    "town": "镇",
    "village": "行政村",
    "community": "社区",
    "grid": "网格片区",
}

STRUCTURE_CATEGORIES: dict[str, str] = {
    "villa": "违建别墅",
    "factory": "厂房",
    "steel_shed": "彩钢房",
    "wall": "围墙",
    "gate": "二道门",
    "courtyard": "小院",
    "carport": "车棚",
    "other": "其他",
}

#: Categories whose records count households (户) in the report, e.g. "拆除违建别墅29户".
HOUSEHOLD_CATEGORIES = frozenset({"villa"})

STRUCTURE_STATUSES: dict[str, str] = {
    "suspected": "疑似",
    "verified": "已核实",
    "halted": "已制止",
    "notice_served": "责令限期拆除",
    "demolished": "已拆除",
    "rectified": "已整改",
    "legalized": "补办手续",
    "dismissed": "不予立案",
}

#: Statuses that end a case.
CLOSED_STATUSES = frozenset({"demolished", "rectified", "legalized", "dismissed"})

#: Stock (existing at the township's base date) or increment (new since), see ledger.stock.
STOCK_CLASSES: dict[str, str] = {
    "stock": "存量",
    "increment": "增量",
}

RED_LINE_KINDS: dict[str, str] = {
    "construction_land": "建设用地批准红线",
    "road": "道路红线",
    "ecological": "生态保护红线",
    "basic_farmland": "永久基本农田",
    "river_blue": "河道蓝线",
    "urban_boundary": "城镇开发边界",
}

#: Line features with a safety distance (``pipeline`` layer): pipelines, power lines, dykes.
PIPELINE_KINDS: dict[str, str] = {
    "gas": "燃气管线",
    "oil": "输油管线",
    "power": "电力线路",
    "dyke": "河堤",
}

#: What a campaign's count target counts: cases (处) or households (户, e.g. 违建别墅29户).
CAMPAIGN_COUNT_UNITS: dict[str, str] = {
    "case": "处",
    "household": "户",
}

#: How a case came into a campaign: by its scope rules, or by hand (with a reason).
CAMPAIGN_TAG_METHODS: dict[str, str] = {
    "rule": "按范围规则",
    "hand": "人工标记",
}

#: GB/T 21010-2017 land classes used in farmland parcels (first-level 01 耕地 and neighbours).
LAND_CLASSES: dict[str, str] = {
    "0101": "水田",
    "0102": "水浇地",
    "0103": "旱地",
    "0201": "果园",
    "0301": "乔木林地",
    "0401": "天然牧草地",
    "1006": "农村道路",
    "1104": "坑塘水面",
    "1202": "设施农用地",
    "0702": "农村宅基地",
}

CULTIVATED_LAND_CLASSES = frozenset({"0101", "0102", "0103"})

RULINGS: dict[str, str] = {
    "legal": "合法",
    "illegal": "违法",
    "other": "其他",
    "false_change": "伪变化",
}

PATCH_STATUSES: dict[str, str] = {
    "new": "待核查",
    "under_review": "核查中",
    "ruled": "已认定",
    "closed": "已办结",
}

#: 整改状态 of a change patch ruled illegal (卫片图斑 and others)
RECTIFICATION_STATUSES: dict[str, str] = {
    "not_started": "未整改",
    "in_progress": "整改中",
    "done": "已整改",
}

#: Where a change patch comes from: own drone flights or the ministry's satellite patches.
PATCH_SOURCES: dict[str, str] = {
    "flight": "无人机航飞",
    "mnr": "卫片执法图斑",
}

VERIFICATION_RESULTS: dict[str, str] = {
    "farmland": "仍为耕地",
    "construction": "被建设占用",
    "facility_agri": "设施农用地",
    "rural_road": "农村道路",
    "abandoned": "撂荒",
    "other": "其他",
}

CLEARED_RESTORED_USES: dict[str, str] = {
    "reclaimed": "复垦",
    "greened": "复绿",
    "vacant": "闲置",
    "other": "其他",
}


#: What a patrol record (巡查记录) reports.
PATROL_CATEGORIES: dict[str, str] = {
    "no_issue": "未发现问题",
    "new_construction": "新建在建",
    "expansion": "扩建加层",
    "rebuilt": "拆后复建",
    "land_occupation": "违法占地",
    "material_piling": "堆放建材",
    "case_followup": "案件跟踪",
    "other": "其他",
}

#: Stages of evidence on a case (执法全过程记录).
EVIDENCE_STAGES: dict[str, str] = {
    "inspection": "现场检查",
    "notice_served": "责令限期拆除送达",
    "before": "拆除前",
    "during": "拆除中",
    "after": "拆除后",
    "halted": "制止",
}


def order_key(vocab: dict[str, str], key: str | None) -> tuple[int, int]:
    """Sort key putting ``key`` in the order the report speaks: the vocabulary's own (Chinese)
    order, ``other`` (其他) after every named value, unknown values and None last."""
    if key is None:
        return (3, 0)
    if key == "other":
        return (2, 0)
    keys = list(vocab)
    return (0, keys.index(key)) if key in keys else (1, 0)


def label(vocab: dict[str, str], key: str | None) -> str:
    """Chinese label for ``key`` in ``vocab``; the key itself when unknown, '' for None."""
    if key is None:
        return ""
    return vocab.get(key, key)
