"""Import pages: upload (multipart over htmx with the CSRF header), the detected encoding and first rows, a
column mapped by hand (the CLI's ``--map``), the run with its counts and reject file, the sources' success
rate; another person cannot open someone's upload; a role without ``contacts.write`` is refused."""

from __future__ import annotations

import re
import time

from starlette.testclient import TestClient

from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.contacts import find_contact_id
from touchflow.services.sources import list_sources

# GBK, as Excel on Chinese Windows saves it; "联系方式" is not a header the importer knows: a phone by hand
GBK_FILE = "姓名,联系方式,城市\n张伟,13812340001,上海\n李娜,13812340002,北京\n无号码,,广州\n".encode("gb18030")


def upload(client: TestClient, csrf: str, data: bytes, name: str = "展会名单.csv", source: str = "offline_expo") -> str:
    answer = client.post("/imports", data={"kind": "contacts", "source": source},
                         files={"file": (name, data, "text/csv")},
                         headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert answer.status_code == 204, answer.text
    return str(answer.headers["HX-Redirect"])


def wait_done(client: TestClient, page: str) -> str:
    """Poll the progress fragment until the run ends (a generous bound: a loaded CI machine is slow, not wrong)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fragment = str(client.get(page.replace("/run", "/progress")).text)
        if 'data-state="done"' in fragment or 'data-state="failed"' in fragment:
            return fragment
        time.sleep(0.05)
    raise AssertionError("the import did not finish within 60 s")


def test_upload_map_a_column_run_and_download_rejects(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        start = client.get("/imports")
        assert start.status_code == 200 and "同步成功率" in start.text and 'id="connectors"' in start.text
        csrf = csrf_of(start.text)
        where = upload(client, csrf, GBK_FILE)
        mapping = client.get(where)
        assert 'data-encoding="gb18030"' in mapping.text and "张伟" in mapping.text
        assert re.search(r'id="col1" name="col1" data-field="custom\.联系方式"', mapping.text)
        job = where.rsplit("/", 1)[1]
        fixed = client.post(f"/imports/{job}/mapping", data={"csrf_token": csrf, "col1": "phone"},
                            headers={"HX-Request": "true"})
        assert re.search(r'id="col1" name="col1" data-field="phone"', fixed.text)
        wrong = client.post(f"/imports/{job}/mapping", data={"csrf_token": csrf, "col1": "phone", "col2": "phone"},
                            headers={"HX-Request": "true"})
        assert 'data-reason="chosen_twice"' in wrong.text and "data-field=\"phone\"" in wrong.text
        assert "该字段已被另一列选用" in wrong.text and "already chosen" not in wrong.text  # the reader's language
        ran = client.post(f"/imports/{job}/run", data={"csrf_token": csrf})
        assert ran.status_code == 303
        done = wait_done(client, ran.headers["location"])
        assert 'data-state="done"' in done, done
        counts = dict(re.findall(r'<dt[^>]*>([^<]+)</dt><dd[^>]*data-count="(\d+)"', done))
        assert (counts.get("读取行数"), counts.get("新建"), counts.get("拒绝行数")) == ("3", "2", "1"), done
        assert find_contact_id(app.services, "phone:13812340001")
        rejects = client.get(f"/imports/{job}/rejects")
        assert rejects.status_code == 200 and "无号码" in rejects.text
        expo = next(s for s in list_sources(app.services) if s.name == "offline_expo")
        assert (expo.received, expo.rejected) == (3, 1)
        assert 'data-rate="0.6666' in client.get("/imports").text
    with console_client(app) as other:
        sign_in(other, app, clock, "admin@example.cn", "admin", "赵管理")
        assert other.get(f"/imports/{job}").status_code == 404
        assert other.get(f"/imports/{job}/rejects").status_code == 404


def test_hostile_uploads_are_refused_naming_the_field(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        csrf = csrf_of(client.get("/imports").text)
        headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
        cases = [({"kind": "contacts", "source": "crm"}, ("a.exe", b"MZ"), "file:"),
                 ({"kind": "contacts", "source": ""}, ("a.csv", b"a,b\n1,2\n"), "source:"),
                 ({"kind": "contacts", "source": "crm"}, ("a.csv", b""), "file:"),
                 ({"kind": "contacts", "source": "crm"}, ("a.csv", b"\xff\xfe\x00\x00bad"), "file:")]
        for data, file, field in cases:
            answer = client.post("/imports", data=data, files={"file": (file[0], file[1], "text/csv")},
                                 headers=headers)
            assert answer.status_code == 422 and f'data-field="{field[:-1]}"' in answer.text, (file, answer.text)
            assert "请检查字段" in answer.text, answer.text  # the field and reason through the catalogs
        plain = client.post("/imports", data={"csrf_token": csrf, "source": "crm"})
        assert plain.status_code == 422 and "multipart" in plain.text


def test_a_role_without_contacts_write_is_refused(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "agent@example.cn", "agent")
        assert client.get("/imports").status_code == 403
        csrf = csrf_of(client.get("/preferences").text)
        answer = client.post("/imports", data={"kind": "contacts", "source": "crm"},
                             files={"file": ("a.csv", b"email\na@b.cn\n", "text/csv")},
                             headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
        assert answer.status_code == 403
