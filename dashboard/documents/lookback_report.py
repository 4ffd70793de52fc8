"""The Word 回头看情况报告 (.docx), written from a campaign's frozen figures only
(``services.lookback.freeze``), so its numbers are the campaign page's numbers at that moment."""
from __future__ import annotations

from typing import Any, BinaryIO

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH

from dashboard.documents.report import _date, _set_fonts, _table, saved
from dashboard.figures import percent
from dashboard.i18n import label, t
from dashboard.text import xml_safe
from dashboard.vocab import SampleReason, Verdict

HEADERS = ["抽查数", "已复查", "真改实改", "未通过", "通过率"]


def _rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[row["name"], row["sampled"], row["checked"], row["passed"], row["failed"], percent(row["pass_rate"])]
            for row in rows]


def summary_sentence(figures: dict[str, Any]) -> str:
    totals, strata, verdicts = figures["totals"], figures["strata"], figures["verdicts"]
    mandatory = "，".join(f"{label(SampleReason(code), 'zh')}{n}项" for code, n in strata.items() if n)
    return (f"本次回头看共抽取已销号问题{totals['sampled']}项（{mandatory or '无'}），"
            f"已复查{totals['checked']}项，复查进度{percent(totals['progress'])}。"
            f"复查认定真改实改{totals['passed']}项，通过率{percent(totals['pass_rate'])}；"
            f"未通过{totals['failed']}项，其中整改不到位{verdicts.get(Verdict.INCOMPLETE.value, 0)}项、"
            f"虚假整改/纸面整改{verdicts.get(Verdict.ON_PAPER.value, 0)}项、"
            f"问题反弹{verdicts.get(Verdict.REBOUND.value, 0)}项，均已作为屡改屡犯问题重新登记、重点督办。")


def build_lookback_report(figures: dict[str, Any], out: BinaryIO | None = None) -> bytes:
    campaign = figures["campaign"]
    document = Document()
    _set_fonts(document)
    heading = document.add_paragraph(xml_safe(f"{campaign['title']}情况报告"), style="Title")
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    dated = document.add_paragraph(f"（{_date(figures.get('taken_at'))}）")
    dated.alignment = WD_ALIGN_PARAGRAPH.CENTER

    document.add_heading("一、基本情况", level=1)
    body = f"，由{campaign['issuing_body']}组织" if campaign.get("issuing_body") else ""
    document.add_paragraph(xml_safe(
        f"回头看时间为{_date(campaign['start_date'])}至{_date(campaign['end_date'])}{body}，"
        f"报告报送时限为{_date(campaign.get('report_due_date'))}。复查要点：" +
        "；".join(f"{n}.{item}" for n, item in enumerate(campaign["checklist"], start=1)) + "。"))
    rule = campaign["rule"]
    document.add_paragraph(
        f"抽样规则：重点督办、曾被退回、佐证材料重复（纸面销号预警）的问题全部纳入；其余问题按牵头单位分层，"
        f"随机抽取{rule.get('percent')}%，每个单位不少于{rule.get('min_per_unit')}项；随机种子{campaign['seed']}，"
        f"按相同范围和种子可重复抽取出同一样本。")

    document.add_heading("二、总体情况", level=1)
    document.add_paragraph(summary_sentence(figures))
    _table(document, ["抽样层", "问题数"],
           [[label(SampleReason(code), "zh"), n] for code, n in figures["strata"].items()])

    document.add_heading("三、按牵头单位", level=1)
    _table(document, ["牵头单位", *HEADERS], _rows(figures["by_unit"]))
    document.add_heading("四、按原问题来源", level=1)
    _table(document, ["原问题来源", *HEADERS], _rows(figures["by_source"]))

    document.add_heading("五、复查未通过问题清单", level=1)
    if figures["failures"]:
        _table(document, ["原问题编号", "复查结论", "牵头单位", "复查意见", "新登记编号", "整改时限"],
               [[row["serial"], label(Verdict(row["verdict"]), "zh"), row["unit"], row["note"],
                 row["new_serial"] or "—", _date(row["new_deadline"])] for row in figures["failures"]])
    else:
        document.add_paragraph("复查的问题均真改实改，无未通过问题。")

    document.add_heading("六、下一步工作", level=1)
    document.add_paragraph(t("lookback.next_steps", "zh"))
    return saved(document, "回头看冻结数据", figures.get("taken_at", ""), out)
