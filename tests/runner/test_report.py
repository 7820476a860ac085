"""The whole reduce: report/index.html parses and embeds valid PNGs and WAVs, README links exist, provenance and
the paper / protocol comparisons are there, and a run with broken shards still reports (listing them)."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from runner.reduce.paper_compare import paper_results
from runner.reduce.report import reduce_run
from tests.runner.fake_run import make_run

VOID = {"meta", "img", "br", "hr", "link", "input", "source"}


class _Checker(HTMLParser):
    """Tag balance plus every embedded image/audio source."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.sources: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("img", "audio"):
            self.sources.append((tag, dict(attrs).get("src") or ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


def _decode(uri: str, mime: str) -> bytes:
    prefix = f"data:{mime};base64,"
    assert uri.startswith(prefix), uri[:40]
    return base64.b64decode(uri[len(prefix):], validate=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    paths = make_run(tmp_path_factory.mktemp("report") / "run", protocols=("paper", "clean"))
    return reduce_run(paths.root, progress=False, audio_limit=1)


def test_html_is_self_contained_and_valid(report: Path) -> None:
    checker = _Checker()
    checker.feed((report / "index.html").read_text(encoding="utf-8"))
    checker.close()
    assert checker.errors == [] and checker.stack == []
    images = [src for tag, src in checker.sources if tag == "img"]
    sounds = [src for tag, src in checker.sources if tag == "audio"]
    assert len(images) == len(list((report / "figures").glob("*.png"))) > 10
    for src in images:
        assert _decode(src, "image/png")[:8] == b"\x89PNG\r\n\x1a\n"
    # the listening panel: 1 attack x 2 corpora x 2 protocols x 2 WAVs
    assert len(sounds) == len(list((report / "audio").glob("*.wav"))) == 8
    for src in sounds:
        info = sf.info(io.BytesIO(_decode(src, "audio/wav")))
        assert info.samplerate == 16000 and info.frames > 40000


def test_readme_links_exist_and_sections_are_there(report: Path) -> None:
    text = (report / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?:figures|audio)/[^)]+)\)", text)
    assert links and all((report / link).is_file() for link in links)
    for link in links:
        if link.endswith(".png"):
            assert (report / link).read_bytes()[:4] == b"\x89PNG"
        else:
            assert sf.info(report / link).samplerate == 16000
    for heading in ("## Provenance", "## Completeness", "## Tables", "## Paper vs reproduced",
                    "## Paper protocol vs leak-free protocol", "## Beyond the paper", "## Figures", "## Listen"):
        assert heading in text
    for name in ("T03_clean_accuracy", "T05_accuracy_by_gender", "P00_paper_summary", "P03_paper_table_3",
                 "X03_protocol_clean_accuracy", "X05_protocol_attacks", "R01_worst_case", "R02_robust_accuracy",
                 "R03_attack_checks", "C01_claims",
                 "S01_speaker_accuracy", "X06_leak_measured_twice"):
        for ext in ("csv", "md", "tex"):
            assert (report / "tables" / f"{name}.{ext}").is_file()
    summary = pd.read_csv(report / "tables" / "attack_summary.csv")  # what the tidy attack CSVs leave out
    assert {"accuracy_seg_lo", "accuracy_n_eff_design", "param_eps"} <= set(summary.columns)
    assert "group" in pd.read_csv(report / "tables" / "T05_accuracy_by_gender.csv")


def test_paper_comparison_uses_the_transcribed_numbers(report: Path) -> None:
    p03 = pd.read_csv(report / "tables" / "P03_paper_table_3.csv")
    emodb_all = p03[(p03.column == "emodb") & (p03.row == "all")].iloc[0]
    assert emodb_all.paper == paper_results()["tables"]["3"]["rows"]["all"][0] == 0.909
    results = pd.read_parquet(report.parent / "results" / "train.parquet")
    ours = results[(results.dataset == "emodb") & (results.protocol == "paper") & (results.study == "final")]
    assert emodb_all.ours == pytest.approx(ours.accuracy.mean())
    p23 = pd.read_csv(report / "tables" / "P23_paper_table_23.csv")
    fgsm = p23[(p23.row == "emovo/all") & (p23.column.astype(float) == 0.5)].iloc[0]
    assert fgsm.paper == 0.070  # paper Table 23: FGSM eps 0.5 on EMOVO, all samples
    assert "paper metric (accuracy under attack" in (report / "tables" / "P23_paper_table_23.md").read_text("utf-8")
    summary = pd.read_csv(report / "tables" / "P00_paper_summary.csv")
    assert summary.printed.sum() == 974 and summary.compared.sum() > 0
    x03 = (report / "tables" / "X03_protocol_clean_accuracy.md").read_text(encoding="utf-8")
    assert "inflation" in x03 and "EmoDB" in x03


def test_provenance(report: Path) -> None:
    import json

    prov = json.loads((report / "provenance.json").read_text(encoding="utf-8"))
    grid = report.parent / "grid.yaml"
    assert prov["grid_sha256"] == hashlib.sha256(grid.read_bytes()).hexdigest()
    assert set(prov["hosts"]) == {"node0", "node1"} and "NVIDIA H100" in prov["devices"]
    assert set(prov["images"]) == {"bare", "sertack-0123456789ab.sif (hash 0123456789ab)"}, prov["images"]
    assert sum(prov["images"].values()) == sum(prov["hosts"].values())
    assert prov["first_finished"] < prov["last_finished"]
    assert prov["packages"]["pyarrow"] and prov["jobs"]["attack"] == {"ok": 2 * 2 * 2 * 9}
    # the fake run's shards carry no trace (runner.trace): the timeline is skipped, saying why
    readme = (report / "README.md").read_text(encoding="utf-8")
    assert "### Job timeline\n\n- No job timeline: none of the " in readme and "recorded a trace" in readme
    assert '<details id="timeline">' in (report / "index.html").read_text(encoding="utf-8")


def test_report_lists_broken_shards(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run")
    attack_dir = paths.shard_dir("attack")
    first, second = sorted(attack_dir.glob("*.parquet"))[:2]
    first.write_bytes(first.read_bytes()[:100])  # truncated
    second.unlink()  # missing
    stale = paths.report_dir / "figures" / "spectrogram_old.png"  # left by an earlier reduce
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    out = reduce_run(paths.root, progress=False, audio_limit=0)
    assert not stale.exists()
    text = (out / "README.md").read_text(encoding="utf-8")
    assert f"| {first.stem} | attack | unreadable |" in text
    assert f"| {second.stem} | attack | missing | no shard and no error file |" in text
    assert "rests on incomplete data" in text
    assert not (out / "audio").exists() or not list((out / "audio").glob("*.wav"))  # audio_limit=0


def test_html_first_screen_and_reading_aids(report: Path) -> None:
    text = (report / "index.html").read_text(encoding="utf-8")
    summary, rest = text.split('<section id="tables">', 1)
    assert '<table class="headline">' in summary and "worst case (any attack)" in summary
    assert "paper in CI" in summary and "paper cells with an interval lie inside our 95 % CI" in summary
    inside = pd.read_csv(report / "tables" / "PCI_paper_inside_ci.csv")
    assert f"{inside.inside.sum()} of {inside.cells.sum()} paper cells with an interval" in summary
    assert "position:sticky" in text and '<nav class="bar"' in text
    assert summary.count('<img src="data:image/png;base64,') == 2  # the dot plot and the paper-vs-ours scatter
    provenance = text[text.index('<section id="provenance">'):]
    assert "<details>" in provenance and "grid.yaml" in provenance and "name: fake" in provenance
    assert text.index('<section id="provenance">') > text.index('<section id="listen">')
    note = "Segment-level intervals (as the paper) are in the CSV"
    assert summary.count(note) == 1 and rest.count(note) == 0  # the conventions box states it once
    assert "paper split (leaky)" in rest and "<td>paper</td>" not in rest
    assert rest.count('<div class="scroll"><table>') >= 30 and "font-variant-numeric:tabular-nums" in text
    listen = text[text.index('<section id="listen">'):text.index('<section id="completeness">')]
    for name in ("FGSM", "BIM", "C&amp;W L2", "JSMA"):
        assert listen.count(f'<td class="l">{name}</td>') == 2 * 2  # 2 corpora x 2 protocols
    assert listen.count("no sound:") == 3 * 2 * 2
