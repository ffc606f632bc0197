"""``imax demo``: the page's API on a loopback socket, and the page itself driven in headless Chromium."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from imax.schema.config.predict import DemoConfig

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def server(smoke):
    from imax.report.demo import make_server

    srv, demo = make_server(DemoConfig(model=smoke.lora, port=0))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", srv
    srv.shutdown()
    srv.server_close()
    demo.close()


def test_api_info_card_samples_and_loopback_only(server):
    url, srv = server
    assert srv.server_address[0] == "127.0.0.1"
    with urllib.request.urlopen(url + "/api/info", timeout=30) as r:
        info = json.loads(r.read())
    card = info["card"]
    assert card["data_manifest_id"] == "smoke-manifest-0001" and card["kind"] == "LoRA adapter"
    assert card["base"].endswith("model") and card["metrics"] is None
    assert [s["name"] for s in info["samples"]] == ["d5"]  # the training data's test split
    needs = {t["name"]: t["needs_argument"] for t in info["tasks"]}
    assert needs == {"calculation": False, "report": False, "multiclass": False, "multilabel": False,
                     "rec": True, "reg": True, "vqa": True}
    with urllib.request.urlopen(url + "/api/sample/0", timeout=30) as r:
        assert r.headers["Content-Type"] == "image/png" and r.read(8) == b"\x89PNG\r\n\x1a\n"
    with urllib.request.urlopen(url + "/", timeout=30) as r:
        assert b"<title>imax demo</title>" in r.read()


def test_api_ask_sample_all_tasks_and_upload(server, smoke):
    url, _ = server
    code, data = _post(url + "/api/ask", {"task": "all", "sample": 0})
    assert code == 200 and [r["task"] for r in data["results"]] == ["calculation", "report", "multiclass",
                                                                    "multilabel"]
    assert all(r["parse_status"] == "ok" for r in data["results"])
    png = (smoke.data / "images" / "img5.png").read_bytes()
    upload = {"name": "my x-ray.png", "data": "data:image/png;base64," + base64.b64encode(png).decode()}
    code, data = _post(url + "/api/ask", {"task": "rec", "text": "heart", "upload": upload})
    assert code == 200 and data["image"]["width"] == 64 and data["results"][0]["boxes"][0]["role"] == "answer"
    code, data = _post(url + "/api/ask", {"task": "reg", "text": "0,0,99,10", "sample": 0})
    assert code == 400 and "outside the 64x64 image" in data["error"]
    code, data = _post(url + "/api/ask", {"task": "report", "upload": {"name": "x.png", "data": "aGVsbG8="}})
    assert code == 400 and "cannot decode image" in data["error"]


def test_busy_port_is_one_line_before_loading(tmp_path, capsys):
    from imax.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # The model path does not exist: the port is checked first.
        assert main(["demo", "--model", str(tmp_path / "nope"), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and err.count("\n") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                    reason="no chromium + chromedriver (apt-get install chromium chromium-driver; .ci/run does)")
def test_page_in_headless_chromium(smoke, tmp_path):
    pytest.importorskip("selenium", reason="selenium is in the dev extra")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from imax.phantom import generate
    from imax.schema.config.phantom import PhantomConfig

    generate(PhantomConfig(out=tmp_path / "phantom", patients=1, image_size=256, workers=1, seed=3))
    phantom_image = sorted((tmp_path / "phantom" / "files").rglob("*.jpg"))[0]

    # A real evaluation of the checkpoint, for the model card's metrics summary.
    from imax.evaluate import evaluate_model
    from imax.schema.config.evaluate import EvalConfig

    metrics = evaluate_model(EvalConfig(model=smoke.lora / "checkpoints" / "final", data=smoke.data,
                                        out=tmp_path / "eval", meteor=False, bootstrap=0))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "imax.cli", "demo", "--model", str(smoke.lora),
                             "--port", str(port), "--metrics", str(tmp_path / "eval" / "metrics.json")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    driver = None
    try:
        deadline = time.monotonic() + 40
        line = ""
        while time.monotonic() < deadline and "serving" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "imax demo exited before serving"
        assert f"http://127.0.0.1:{port}/" in line, line
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,800", "--disable-background-networking", "--no-first-run"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        wait = WebDriverWait(driver, 30)
        driver.get(f"http://127.0.0.1:{port}/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
        card = driver.find_element(By.ID, "card").text
        assert "smoke-manifest-0001" in card and f"{metrics['multitask_average']:.4f}" in card
        driver.find_element(By.ID, "upload").send_keys(str(phantom_image))
        wait.until(lambda d: "(uploaded)" in d.find_element(By.ID, "imagename").text)
        Select(driver.find_element(By.ID, "task")).select_by_value("rec")
        driver.find_element(By.ID, "argument").send_keys("heart")
        driver.find_element(By.ID, "ask").click()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-answered") == "1")
        assert driver.find_element(By.ID, "error").text == ""
        raw = driver.find_element(By.CSS_SELECTOR, "section.answer .raw").text
        status = driver.find_element(By.CSS_SELECTOR, "section.answer .status").text
        assert raw and status == "ok", (raw, status)
        rect = driver.find_element(By.CSS_SELECTOR, "#boxes rect.box-answer")
        assert float(rect.get_attribute("width")) > 0 and float(rect.get_attribute("height")) > 0
        assert rect.size["width"] > 5 and rect.size["height"] > 5  # drawn, on screen
        assert phantom_image.name in driver.find_element(By.ID, "imagename").text
        # The committed screenshot is refreshed only on request: a test run must not rewrite tracked files.
        shot = REPO / "docs" / "demo.png" if os.environ.get("IMAX_UPDATE_SCREENSHOTS") else tmp_path / "demo.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        proc.wait(timeout=20)
