"""Importing a file in Chromium, as a strategy designer: upload a GBK CSV, see the detected encoding and first
rows, fix the column the importer did not recognise (联系方式 is the phone), run it with the progress bar, read the
counts and download the reject file; axe-clean."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.console_browser_support import browser, needs_chromium
from tests.e2e.test_console_imports import GBK_FILE
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.contacts import find_contact_id


@needs_chromium
def test_import_a_file_and_fix_a_mapping(app: Application, clock: VirtualClock, tmp_path: Path) -> None:
    file = tmp_path / "展会名单.csv"
    file.write_bytes(GBK_FILE)
    with browser(app, clock) as b:
        page = b.page_as("li.na@example.cn", "strategist", "李娜")
        page.goto(f"{b.base}/imports")
        b.check(page, "imports-start.png")
        page.get_by_label("文件").set_input_files(str(file))
        page.get_by_label("数据来源").fill("offline_expo")
        page.get_by_role("button", name="上传并预览").click()
        page.wait_for_url("**/imports/*")
        page.locator("[data-encoding='gb18030']").wait_for()
        assert "张伟" in page.locator("#mapping").inner_text()
        assert page.locator("#col1").get_attribute("data-field") == "custom.联系方式"
        page.get_by_label("此列对应的字段： 联系方式").select_option("phone")
        page.locator("#col1[data-field='phone']").wait_for()
        b.check(page, "imports-mapping.png")
        page.get_by_role("button", name="导入到 offline_expo").click()
        page.locator("#import-progress[data-state='done']").wait_for()
        page.locator("#import-progress[data-state='done'] dd[data-count]").first.wait_for()
        text = page.locator("#import-progress").inner_text()
        assert "读取行数" in text and "拒绝行数" in text
        b.check(page, "imports-done.png")  # before the click: a pressed button is mid-transition for axe
        with page.expect_download() as download:
            page.get_by_role("link", name="下载拒绝文件").click()
        saved = tmp_path / "rejects.csv"
        download.value.save_as(saved)
        assert "无号码" in saved.read_text(encoding="utf-8-sig")
    assert find_contact_id(app.services, "phone:13812340002")
