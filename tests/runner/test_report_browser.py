"""The report in a real browser (headless Chromium at 1280 x 900): the first screen holds the banner and the
headline table, no table sticks out of its container, and every anchor, image and sound resolves.

A test-only copy of index.html gets a small script that measures the laid-out page and writes the result into the
DOM (`<pre id="sertack-check">`), read back with --dump-dom. Skipped when chromium is not installed (`make test`
installs it as root).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from runner.reduce.report import reduce_run
from tests.runner.fake_run import make_run

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1280, 900

CHECK = """<script>
window.addEventListener("load", async () => {
  const first = (sel) => { const e = document.querySelector(sel); return e ? e.getBoundingClientRect().top : null; };
  const page = document.querySelector("main").getBoundingClientRect();
  const out = {headline_top: first("table.headline"), banner_top: first(".banner"),
               headline_bottom: document.querySelector("table.headline")?.getBoundingClientRect().bottom ?? null,
               page_width: document.documentElement.scrollWidth, sticky: getComputedStyle(
                 document.querySelector("nav.bar")).position, overflow: [], unwrapped: [], anchors: [], images: [],
               sounds: 0, bad_sounds: []};
  for (const t of document.querySelectorAll("table")) {
    const box = t.parentElement, name = box.previousElementSibling?.id || t.className || "?";
    if (!box.classList.contains("scroll")) out.unwrapped.push(name);
    const r = box.getBoundingClientRect();
    if (r.right > page.right + 1 || r.left < page.left - 1) out.overflow.push(name);
  }
  for (const a of document.querySelectorAll("a[href^='#']"))
    if (!document.getElementById(a.getAttribute("href").slice(1))) out.anchors.push(a.getAttribute("href"));
  for (const img of document.querySelectorAll("img"))
    if (!(img.complete && img.naturalWidth > 0)) out.images.push(img.alt.slice(0, 40));
  const audios = [...document.querySelectorAll("audio")];
  out.sounds = audios.length;
  await Promise.all(audios.map((a) => new Promise((done) => {
    const probe = new Audio();
    probe.preload = "metadata";
    const bad = () => out.bad_sounds.push(a.getAttribute("aria-label"));
    probe.onloadedmetadata = () => { if (!(probe.duration > 0)) bad(); done(); };
    probe.onerror = () => { bad(); done(); };
    probe.src = a.src;
  })));
  const pre = document.createElement("pre");
  pre.id = "sertack-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium(*args: str) -> str:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--window-size={WIDTH},{HEIGHT}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if CHROMIUM is None:
        pytest.skip("chromium not installed (make test installs it as root: apt-get install chromium)")
    paths = make_run(tmp_path_factory.mktemp("browser") / "run")
    sorted(paths.shard_dir("attack").glob("*.parquet"))[0].unlink()  # an incomplete run: the banner says so
    return reduce_run(paths.root, progress=False, audio_limit=1) / "index.html"


def test_first_screen_tables_and_media_in_a_browser(page: Path, tmp_path: Path) -> None:
    probe = page.with_name("check.html")  # beside index.html, so linked audio/ files resolve the same way
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"), encoding="utf-8")
    dom = _chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="sertack-check">(.*?)</pre>', dom, re.S)
    assert found, "the check script did not run"
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["banner_top"] is not None and check["banner_top"] < HEIGHT
    assert check["headline_top"] is not None and check["headline_bottom"] < 2 * HEIGHT
    assert check["headline_top"] < HEIGHT, check
    assert check["sticky"] == "sticky"
    assert check["page_width"] <= WIDTH, "the page scrolls sideways at 1280 px"
    assert check["unwrapped"] == [] and check["overflow"] == [], check
    assert check["anchors"] == [] and check["images"] == [], check
    assert check["sounds"] > 0 and check["bad_sounds"] == [], check
    shot = tmp_path / "first.png"
    _chromium(f"--screenshot={shot}", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
