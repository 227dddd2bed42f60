"""The Advertising-Law scanner (G4): disguised terms are found, harmless look-alikes are not, offsets are exact."""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from touchflow.cli import content
from touchflow.domain.guardrails.compliance import (
    ComplianceScanner,
    TermListError,
    blocking,
    default_terms,
    load_terms,
    normalise_copy,
    scan_text,
)


def found(text: str) -> list[tuple[str, str]]:
    return [(f.term, f.matched) for f in scan_text(text)]


@pytest.mark.parametrize(("text", "term", "matched"), [
    ("这是最佳选择", "最佳", "最佳"),
    ("这是最 佳选择", "最佳", "最 佳"),
    ("这是最-佳选择", "最佳", "最-佳"),
    ("这是最_·_佳选择", "最佳", "最_·_佳"),
    ("这是最\u200b佳选择", "最佳", "最\u200b佳"),
    ("这是最\ufeff\u200d佳选择", "最佳", "最\ufeff\u200d佳"),
    ("这是最\n佳选择", "最佳", "最\n佳"),
    ("这是最\u3000佳选择", "最佳", "最\u3000佳"),
    ("國家級工藝", "国家级", "國家級"),
    ("效果絕對好", "绝对", "絕對"),
    ("销量ＮＯ．１", "NO.1", "ＮＯ．１"),
    ("保证１００％ 收益", "100%收益", "１００％ 收益"),
    ("保证 100 % 收益", "100%收益", "100 % 收益"),
    ("Top1 好物", "TOP1", "Top1"),
])
def test_disguised_terms_are_found_and_point_at_the_original_characters(text: str, term: str, matched: str) -> None:
    findings = scan_text(text)
    assert [(f.term, f.matched) for f in findings] == [(term, matched)]
    assert text[findings[0].start:findings[0].end] == matched


def test_normal_form_is_simplified_half_width_lower_case_without_gaps() -> None:
    assert normalise_copy("國家級 ＡＢＣ-最\u200b佳") == "国家级abc最佳"
    assert normalise_copy("top 1, v1.2") == "top 1,v1.2"  # between Latin letters or digits a gap stays
    assert normalise_copy("a\u200bb") == "ab"  # zero-width characters go even there


def test_latin_terms_match_whole_words_only() -> None:
    assert found("laptop1 电脑") == []
    assert found("2100%") == []
    assert found("TOP 1") == []
    assert found("No.10 号店") == []


def test_sentence_punctuation_stays_a_boundary() -> None:
    assert found("最，佳") == []
    assert found("最。佳") == []
    # the comma keeps 第一 and 次日 apart, so the 第一次 exception does not hide 行业第一
    assert found("我们是行业第一，次日发货") == [("行业第一", "行业第一")]


@pytest.mark.parametrize("text", [
    "这是您第一次购买", "第一步：注册", "第 一 次见面", "第一季度报告", "面包过期请勿食用", "红包过期作废",
    "最好提前一天预约", "治愈系电影", "最佳赏味期 30 天", "清仓保本价", "绝对值", "顶级域名", "万能胶",
])
def test_exception_phrases_are_not_findings(text: str) -> None:
    assert found(text) == []


def test_the_same_words_outside_their_exceptions_are_findings() -> None:
    assert found("第一名") == [("第一", "第一")]
    assert found("报名包过") == [("包过", "包过")]
    assert found("这是最好的产品") == [("最好", "最好")]
    assert found("第一次，第一") == [("第一", "第一")]
    assert [f.start for f in scan_text("第一次，第一")] == [4]


def test_the_longest_match_wins_and_matches_inside_it_are_not_reported() -> None:
    assert found("最高级") == [("最高级", "最高级")]
    assert found("稳赚不赔") == [("稳赚不赔", "稳赚不赔")]
    assert found("100%收益") == [("100%收益", "100%收益")]
    assert found("疗效最佳") == [("疗效最佳", "疗效最佳")]
    assert found("销量第一名") == [("销量第一", "销量第一")]


def test_offsets_map_back_exactly_through_random_disguises() -> None:
    rng = random.Random(7)
    words = ["最佳", "国家级", "稳赚不赔", "包治百病", "药妆", "驰名商标", "保值增值"]
    gaps = [" ", "-", "\u200b", "*", "\u3000", "·", " \u200b "]
    for _ in range(300):
        word = rng.choice(words)
        disguised = "".join(ch + (rng.choice(gaps) if rng.random() < 0.5 else "") for ch in word[:-1]) + word[-1]
        text = rng.choice(["新品上市，", "感谢支持。", ""]) + disguised + rng.choice(["，欢迎选购", "!", ""])
        findings = scan_text(text)
        assert [f.term for f in findings] == [word], text
        f = findings[0]
        assert text[f.start:f.end] == f.matched == disguised


def test_findings_come_in_order_with_their_documents() -> None:
    text = "国家级工艺，保本保息，专家推荐"
    findings = scan_text(text)
    assert [f.term for f in findings] == ["国家级", "保本保息", "专家推荐"]
    assert [f.start for f in findings] == sorted(f.start for f in findings)
    assert findings[1].document() == {"term": "保本保息", "category": "false_promises", "severity": "block",
                                      "start": 6, "end": 10, "article": "广告法第二十五条第一项",
                                      "matched": "保本保息"}
    assert [f.term for f in blocking(findings)] == ["国家级", "保本保息"]


def test_clean_copy_has_no_findings() -> None:
    assert scan_text("春季新款连衣裙上市，下单后四十八小时内发货，支持七天无理由退货。") == []


def test_the_shipped_list_covers_every_category_and_cites_an_article_for_every_term() -> None:
    terms = default_terms()
    categories = {t.category for t in terms.terms}
    assert {"absolute_terms", "false_promises", "finance", "medical_claims", "health_food_claims",
            "cosmetics_claims", "state_endorsement", "education_promises"} <= categories
    for term in terms.terms:
        assert term.article.startswith(("广告法第", "商标法第")), term
        assert term.severity in ("block", "warn")
        for phrase in term.exceptions:
            assert normalise_copy(term.term) in normalise_copy(phrase)
    for required in ("最佳", "国家级", "最高级", "第一", "唯一", "保本", "稳赚", "零风险", "100%收益", "治愈",
                     "根治", "无副作用", "保值增值", "国家机关推荐"):
        assert any(t.term == required for t in terms.terms), required
    declared = yaml.safe_load(resources.files("touchflow.domain.data").joinpath("ad_terms.yaml").read_text("utf-8"))
    assert set(declared["categories"]) == categories  # every declared category has at least one term


CUSTOM = """
version: test-1
categories:
  promo: {article: 广告法第九条第三项, note: 测试}
terms:
  - {term: 爆款, category: promo, severity: warn}
  - {term: 秒杀价, category: promo, severity: block, article: 自定义条款, exceptions: [秒杀价格说明]}
"""


def test_a_custom_list_takes_category_defaults_and_scans_on_its_own() -> None:
    terms = load_terms(CUSTOM)
    assert terms.version == "test-1"
    assert [(t.term, t.article, t.note) for t in terms.terms] == [
        ("爆款", "广告法第九条第三项", "测试"), ("秒杀价", "自定义条款", "测试")]
    assert [f.term for f in scan_text("爆 款 秒杀价，最佳", terms)] == ["爆款", "秒杀价"]
    assert ComplianceScanner(terms).scan("秒杀价格说明") == []
    assert load_terms('[{"term": "爆款", "category": "x", "severity": "warn", "article": "a"}]').version == "custom"


@pytest.mark.parametrize(("text", "path", "reason"), [
    ("terms:\n  - {term: 爆款, category: x, article: a}", "terms[0].severity", "expected text"),
    ("terms:\n  - {term: a, category: x, severity: warn, article: a}\n  - {term: 爆款, category: x, "
     "severity: fatal, article: a}", "terms[1].severity", "not one of block, warn"),
    ("terms:\n  - {term: 爆款, category: x, severity: warn}", "terms[0].article", "declares no article"),
    ("terms:\n  - {term: 爆款, category: x, severity: warn, article: a, severty: x}", "terms[0].severty",
     "unknown field"),
    ("terms:\n  - {term: 爆款, category: x, severity: warn, article: a, exceptions: [秒杀]}",
     "terms[0].exceptions[0]", "does not contain the term"),
    ("terms:\n  - {term: no, category: x, severity: warn, article: a}", "terms[0].term", "quote it"),
    ("terms:\n  - {term: 爆款, category: x, severity: warn, article: a}\n  - {term: 爆 款, category: y, "
     "severity: block, article: b}", "terms[1].term", "repeats terms[0]"),
    ("terms:\n  - {term: ' - ', category: x, severity: warn, article: a}", "terms[0].term", "empty"),
    ("terms: [", "(document)", "not valid YAML"),
    ("terms: []", "terms", "non-empty list"),
    ("just text", "(document)", "expected a mapping"),
])
def test_bad_term_lists_name_the_entry_and_field(text: str, path: str, reason: str) -> None:
    with pytest.raises(TermListError) as info:
        load_terms(text)
    assert info.value.path == path
    assert reason in info.value.reason


# --- the command ---------------------------------------------------------------------------------------------

@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """A stand-in for the touchflow app."""

    content.register(app)
    return app


def test_check_content_json_lists_findings_and_exits_1_on_a_blocking_one(cli: typer.Typer, tmp_path: Path) -> None:
    copy = tmp_path / "copy.txt"
    copy.write_text("全新升级，國家級品质\n第一次购买享九折，效果绝对好", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-content", str(copy), "--json"])
    assert result.exit_code == 1, result.output
    documents = json.loads(result.stdout)
    assert [d["term"] for d in documents] == ["国家级", "绝对"]
    assert set(documents[0]) >= {"term", "category", "severity", "start", "end", "article"}
    text = copy.read_text(encoding="utf-8")
    assert [text[d["start"]:d["end"]] for d in documents] == ["國家級", "绝对"]


def test_check_content_exits_0_on_clean_or_warning_only_copy(cli: typer.Typer) -> None:
    clean = CliRunner().invoke(cli, ["check-content", "-"], input="新品上市，欢迎选购。".encode())
    assert clean.exit_code == 0 and "no findings" in clean.output
    warned = CliRunner().invoke(cli, ["check-content", "-", "--json"], input="100%纯棉".encode())
    assert warned.exit_code == 0
    assert [d["severity"] for d in json.loads(warned.stdout)] == ["warn"]


def test_check_content_reads_standard_input_and_gb18030(cli: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["check-content", "-"], input="稳 赚 不 赔".encode("gb18030"))
    assert result.exit_code == 1
    assert "稳赚不赔" in result.output and "1 blocking" in result.output
    legacy = tmp_path / "gbk.txt"
    legacy.write_bytes("本品无副作用".encode("gb18030"))
    assert CliRunner().invoke(cli, ["check-content", str(legacy)]).exit_code == 1


def test_check_content_exits_2_on_unreadable_file_or_bad_term_list(cli: typer.Typer, tmp_path: Path) -> None:
    missing = CliRunner().invoke(cli, ["check-content", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "cannot read" in missing.output
    bad = tmp_path / "terms.yaml"
    bad.write_text("terms:\n  - {term: 爆款, category: x, severity: loud, article: a}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-content", "-", "--terms", str(bad)], input="爆款".encode())
    assert result.exit_code == 2
    assert "terms[0].severity" in result.output


def test_check_content_uses_a_custom_term_list(cli: typer.Typer, tmp_path: Path) -> None:
    custom = tmp_path / "terms.yaml"
    custom.write_text(CUSTOM, encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-content", "-", "--terms", str(custom), "--json"],
                                input="最佳爆款秒杀价".encode())
    assert result.exit_code == 1
    assert [d["term"] for d in json.loads(result.stdout)] == ["爆款", "秒杀价"]  # 最佳 is not in this list
