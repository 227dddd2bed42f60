"""Every article the shipped term list cites was checked against the law's text (docs/subsystems/compliance.md,
"Sources"): a citation outside this list is one nobody has checked, and fails here until someone does."""

from __future__ import annotations

from importlib import resources

from touchflow.domain.guardrails.compliance import default_terms

# citation → what the cited text says (the reason the terms under it belong there)
CHECKED = {
    "广告法第九条第一项": "使用或者变相使用国旗、国歌、国徽，军旗、军歌、军徽",
    "广告法第九条第二项": "使用或者变相使用国家机关、国家机关工作人员的名义或者形象",
    "广告法第九条第三项": "使用“国家级”“最高级”“最佳”等用语",
    "广告法第十六条第一款第一项、第二项；第十七条":
        "医疗广告：功效、安全性的断言或保证；治愈率、有效率；非医疗广告不得涉及疾病治疗功能",
    "广告法第十七条": "除医疗、药品、医疗器械广告外，禁止涉及疾病治疗功能、使用医疗用语",
    "广告法第十八条第一款": "保健食品广告不得含有的内容",
    "广告法第十八条第一款第二项": "保健食品：涉及疾病预防、治疗功能",
    "广告法第十八条第一款第三项": "保健食品：声称或者暗示为保障健康所必需",
    "广告法第二十一条第一项": "农药、兽药、饲料：功效、安全性的断言或者保证",
    "广告法第二十四条第一项": "教育、培训：对升学、通过考试、证书或培训效果的保证性承诺",
    "广告法第二十四条第二项": "教育、培训：明示或者暗示考试机构、考试命题人员参与",
    "广告法第二十五条": "有投资回报预期的广告：提示风险，不得含有保证性承诺等",
    "广告法第二十五条第一项": "对未来效果、收益作保证性承诺，明示或者暗示保本、无风险或者保收益",
    "广告法第二十六条第一项": "房地产：升值或者投资回报的承诺",
    "广告法第十六条第一款第四项、第十八条第一款第五项、第二十一条第二项、第二十四条第三项、第二十五条第二项":
        "代言人（医疗、保健食品）；科研单位、专业人士、用户、受益者的名义作推荐、证明（农药、教育、投资）",
    "商标法第十四条第五款": "不得将“驰名商标”字样用于广告宣传",
}


def test_every_cited_article_was_checked_against_the_law() -> None:
    unchecked = sorted({t.article for t in default_terms().terms} - set(CHECKED))
    assert not unchecked, f"cited but not checked against the law's text: {unchecked}"


def test_no_citation_is_left_marked_as_unverified() -> None:
    text = resources.files("touchflow.domain.data").joinpath("ad_terms.yaml").read_text(encoding="utf-8")
    # The cosmetics regulation's article number and the enforcement guide's document number could not be
    # checked; they are not cited (the terms rest on 广告法第十七条 and 第九条第三项, which were).
    assert "化妆品监督管理条例第四十三条" not in text and "国市监广发" not in text
    assert "memory" not in text.lower() and "unverified" not in text.lower()
