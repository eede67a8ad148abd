"""公示 address masking (issue 13 item 5): house numbers in any script and personal names never
survive ``mask_address``; examples from the probe, then a hypothesis property over generated
addresses."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geo_enforce.ledger.public import mask_address

CN_DIGITS = "零〇一二两三四五六七八九"
FINANCIAL = "壹贰叁肆伍陆柒捌玖拾佰仟"
UNITS = ["号", "號", "号院", "栋", "幢", "室", "单元", "排", "户", "楼", "组"]


@pytest.mark.parametrize(
    ("address", "names", "expected"),
    [
        ("大任庄村东街12号", (), "大任庄村东街＊号"),
        ("小南河村3排5号院", (), "小南河村＊排＊号院"),
        ("联系13800001234", (), "联系＊"),
        ("大任庄村12號", (), "大任庄村＊號"),
        ("大任庄村１２号", (), "大任庄村＊号"),
        ("大任庄村壹拾贰号", (), "大任庄村＊号"),
        ("大任庄村十二号", (), "大任庄村＊号"),
        ("大任庄村12-3", (), "大任庄村＊"),
        ("大任庄村12之3号", (), "大任庄村＊号"),
        ("大任庄村东头12", (), "大任庄村东头＊"),
        ("大任庄村⑫号", (), "大任庄村＊号"),
        ("大任庄村2单元301室", (), "大任庄村＊单元＊室"),
        ("大任庄村张三家东侧", (), "大任庄村＊家东侧"),
        ("王家庄村第五组", (), "王家庄村＊组"),
        ("东三环二道门村", (), "东三环二道门村"),
        ("小南河村刘建国院内", ("刘建国",), "小南河村＊院内"),
        ("李四、王五合建房屋", ("李四、王五",), "＊合建房屋"),
        ("王五与李四合建", ("李四、王五",), "＊与＊合建"),
    ],
)
def test_probe_examples(address, names, expected):
    assert mask_address(address, names) == expected


def test_numbers_kept_when_configured_but_names_go():
    assert mask_address("张三家东侧12号", numbers=False) == "＊家东侧12号"
    assert mask_address(None) is None and mask_address("") == ""


def _digits(draw_from: st.DrawFn, script: str, n: int) -> str:
    s = str(n)
    if script == "fullwidth":
        return s.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if script == "circled" and 1 <= n <= 20:
        return chr(0x2460 + n - 1)
    if script == "arabic_indic":
        return s.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    if script == "chinese":
        return "".join(CN_DIGITS[int(c)] for c in s)
    if script == "financial":
        return "".join("零" if c == "0" else FINANCIAL[int(c) - 1] for c in s)
    return s


@st.composite
def house_number(draw: st.DrawFn) -> str:
    script = draw(
        st.sampled_from(["ascii", "fullwidth", "circled", "arabic_indic", "chinese", "financial"])
    )
    first = _digits(draw, script, draw(st.integers(1, 999)))
    if draw(st.booleans()):
        sep = draw(st.sampled_from(["-", "－", "之", "至", "~"]))
        first += sep + _digits(draw, script, draw(st.integers(1, 20)))
    if script in ("chinese",):  # Chinese numerals count as a number next to a unit or after 第
        return draw(st.sampled_from(["", "第"])) + first + draw(st.sampled_from(UNITS))
    return first + draw(st.sampled_from(["", *UNITS]))


SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "三四五建国丽华明伟芳军"
name = st.builds(
    lambda s, g: s + g, st.sampled_from(SURNAMES), st.text(GIVEN, min_size=1, max_size=2)
)
place = st.sampled_from(["大任庄村", "小南河村", "王家庄村", "东三环", "石家庄路", "北街"])
side = st.sampled_from(["", "东头", "西侧", "南", "后街"])


@st.composite
def address(draw: st.DrawFn) -> tuple[str, str]:
    party = draw(name)
    parts = [draw(place), draw(side), draw(house_number())]
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), party + draw(st.sampled_from(["家", ""])))
    if draw(st.booleans()):
        parts.append(draw(house_number()))
    return "".join(parts), party


def _number_left(text: str) -> str | None:
    """A house number that survived: any digit-like character in any script, a financial
    numeral, or a Chinese numeral before a unit or after 第."""
    for ch in text:
        if unicodedata.category(ch) in ("Nd", "No", "Nl") or ch in FINANCIAL:
            return ch
    m = re.search(f"第[{CN_DIGITS}十百]|[{CN_DIGITS}十百](?:{'|'.join(UNITS)})", text)
    return m.group(0) if m else None


@settings(max_examples=400, deadline=None)
@given(address())
@example(("大任庄村张三家12號", "张三"))
@example(("东头⑫号壹拾贰之三号", "李四"))
def test_no_house_number_or_party_name_survives(generated):
    text, party = generated
    masked = mask_address(text, [party])
    assert masked is not None
    assert _number_left(masked) is None, (text, masked)
    assert party not in masked, (text, masked)
    # household references (surname + given name + 家) go even when the name is not a party's
    other = "赵丽华"
    assert other not in (mask_address(text + other + "家", [party]) or "")
