"""Figures are valid PNGs and WAVs are valid 16 kHz audio (the inversion itself: tests/sercore/test_features.py);
whiskers and bands are the tables' CIs; the headline, the paper-in-CI count and the listening panel follow the
numbers."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from runner.reduce import headline as hl
from runner.reduce import plots
from runner.reduce.cells import fmt_interval, fmt_num
from runner.reduce.figures import _ci_err, audio_examples, bar_figures, example_jobs, spectrogram_panels
from runner.reduce.htmlpage import tidy
from runner.reduce.listening import listening_panel
from runner.reduce.merge import load_run
from runner.reduce.rundata import RunData
from runner.reduce.summary import Summary, summarize
from tests.runner.fake_run import ATTACKS, CLASSES, DATASETS, make_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunData, Summary]:
    data = load_run(make_run(tmp_path_factory.mktemp("figures") / "run").root, progress=False)
    return data, summarize(data)


def test_figures_are_pngs_and_wavs_are_audio(run: tuple[RunData, Summary], tmp_path: Path) -> None:
    data, s = run
    bars = bar_figures(s, tmp_path / "fig")
    assert [m.path.name for m in bars] == ["fig04_time.png", "fig05_accuracy.png", "fig06_perturbation.png",
                                           "fig07_accuracy_gender.png", "fig08_perturbation_gender.png"]
    picks = example_jobs(data, s)
    assert len(picks) == len(ATTACKS) * len(DATASETS)
    panels = spectrogram_panels(picks, tmp_path / "fig")
    assert sorted(m.path.name for m in panels) == sorted(f"spectrogram_{a}.png" for a in ATTACKS)
    for m in [*bars, *panels]:
        assert m.path.read_bytes()[:8] == PNG_MAGIC
        img = mpimg.imread(m.path)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    sounds = audio_examples(data, picks, tmp_path / "audio", limit=1)
    assert [m.path.name for m in sounds] == ["fgsm_emodb_clean.wav", "fgsm_emodb_adversarial.wav"]
    clips = []
    for m in sounds:
        info = sf.info(m.path)
        assert info.samplerate == 16000 and info.channels == 1 and 2.9 < info.duration < 3.1
        clip, _ = sf.read(m.path)
        assert np.isfinite(clip).all() and 0.5 < np.abs(clip).max() <= 1.0
        clips.append(clip)
    assert not np.allclose(clips[0], clips[1])  # the attack is audible as a difference


def test_whiskers_are_the_tables_cis(run: tuple[RunData, Summary]) -> None:
    _, s = run
    sub = s.best[s.best.dataset == "emodb"].set_index("attack")
    attacks = list(sub.index)
    err = _ci_err(sub, "accuracy", attacks)
    assert err is not None and err.shape == (2, len(attacks))
    assert err[0] == pytest.approx((sub.accuracy_mean - sub.accuracy_lo).to_numpy())
    assert err[1] == pytest.approx((sub.accuracy_hi - sub.accuracy_mean).to_numpy())
    assert _ci_err(sub, "time_s", attacks) is None  # no interval, no whisker (never a std over seeds)


def test_uncertainty_figures(run: tuple[RunData, Summary], tmp_path: Path) -> None:
    data, s = run
    curves = plots.robustness_curves(s, tmp_path)
    swept = sorted(a for a, (grid, _) in ATTACKS.items() if len(grid) > 1)
    assert sorted(m.path.stem for m in curves) == [f"curve_{a}" for a in swept]
    confusion = plots.confusion_figures(s, tmp_path)
    assert [m.path.stem for m in confusion] == [f"confusion_{d}" for d in DATASETS]
    scatter = plots.accuracy_vs_perturbation(s, tmp_path)
    head = hl.build_headline(data, s)
    assert head is not None
    dots = plots.dot_whisker(head.points, tmp_path, "12 attacked samples, 2 seeds")
    for m in [*curves, *confusion, scatter, dots]:
        assert m is not None and m.path.read_bytes()[:8] == PNG_MAGIC
        assert "CI" in m.caption or "confusion" in m.caption


def test_headline_rows_and_paper_in_ci(run: tuple[RunData, Summary]) -> None:
    data, s = run
    head = hl.build_headline(data, s)
    assert head is not None and len(head.rows) == len(ATTACKS) * len(DATASETS)
    fgsm = next(r for r in head.rows if r["attack"] == "FGSM" and r["corpus"] == "EmoDB")
    best = s.best[(s.best.attack == "fgsm") & (s.best.dataset == "emodb")].iloc[0]
    assert fgsm["paper metric [95 % CI]"] == fmt_interval(best.accuracy_mean, best.accuracy_lo, best.accuracy_hi)
    rows = s.attack_rows[(s.attack_rows.attack == "fgsm") & (s.attack_rows.dataset == "emodb")
                         & (s.attack_rows.params == best.params) & (s.attack_rows.protocol == best.protocol)
                         & (s.attack_rows.labels == best.labels)]
    robust = float(((rows.y_clean == rows.y_true) & (rows.y_adv == rows.y_true)).groupby(rows.seed).mean().mean())
    assert fgsm["robust accuracy [95 % CI]"].startswith(f"{robust:.3f} [")  # right before and under, per seed
    assert fgsm["Δ vs clean"] == f"{robust - best.clean_accuracy_mean:+.3f}"
    lowest = head.points[head.points.label != "worst case"]["mean"].min()  # the sentence speaks of robust accuracy
    assert head.summary.startswith("Robust accuracy: strongest ") and f"({fmt_num(lowest)})" in head.summary
    assert fgsm["paper"] == "0.109"  # paper Table 5, FGSM on EmoDB
    assert fgsm["paper in CI"] == ("yes" if best.accuracy_lo <= 0.109 <= best.accuracy_hi else "no")
    assert [r["attack"] for r in head.worst] == ["worst case (any attack)"] * len(DATASETS)
    cells = hl.cells_with_ci(data, s)
    assert len(cells) > 20 and set(cells.table) >= {"5", "23"}
    assert (cells.inside == ((cells.lo - 1e-12 <= cells.paper) & (cells.paper <= cells.hi + 1e-12))).all()
    media = plots.paper_scatter(cells, data.paths.report_dir)
    assert media is not None and f"{int(cells.inside.sum())} of {len(cells)} overall" in media.caption
    assert plots.paper_scatter(pd.DataFrame(columns=cells.columns), data.paths.report_dir) is None
    per_table = hl.table_inside_ci(cells)
    assert per_table is not None and per_table.data.cells.sum() == len(cells)
    assert per_table.data.inside.sum() == cells.inside.sum()


def test_meta_line_and_banners(run: tuple[RunData, Summary]) -> None:
    data, s = run
    meta = hl.meta_items(data, s, {"git_commit": "0123456789abcdef", "reduced_at": "2026-12-03T09:00:00+00:00"})
    assert "protocol: paper split (leaky)" in meta and "2 seeds" in meta and "git 01234567" in meta
    ok = (data.status.status == "ok").sum()
    assert f"{ok}/{len(data.status)} jobs ok" in meta and "12 attacked test samples" in meta
    assert hl.banners(data, s, (10, 974)) == []  # the paper's corpora, no limit, every job ok


def test_number_format() -> None:
    assert fmt_num(0.12345) == "0.123" and fmt_num(4.1e-05) == "4.10e-05" and fmt_num(0) == "0.000"
    assert fmt_num(float("nan")) == "–" and fmt_num(12.5) == "12.500"
    assert tidy("0.1234 [0.0000, 0.5000] ± 0.0100 (12 rec.)") == "0.123 [0.000, 0.500] ± 0.010 (12 rec.)"
    assert tidy("+0.1250") == "+0.125" and tidy("-0.5") == "-0.500" and tidy("4.1e-05") == "4.10e-05"
    assert tidy("eps=0.25, max_iter=10") == "eps=0.25, max_iter=10" and tidy("12") == "12"


def test_listening_panel_covers_every_attack(run: tuple[RunData, Summary], tmp_path: Path) -> None:
    data, s = run
    panel = listening_panel(data, s, tmp_path, audio_limit=1)
    assert len(panel) == len(ATTACKS) * len(DATASETS)
    voiced = [e for e in panel if e.clean is not None]
    assert {e.attack for e in voiced} == {"FGSM"} and len(voiced) == len(DATASETS)
    for e in panel:
        assert e.true in CLASSES and e.clean_pred in CLASSES and e.adv_pred in CLASSES
        assert "mean |Δx|" in e.size
        assert (e.clean is not None and e.adversarial is not None and not e.reason) or "no sound" in e.reason
    for e in voiced:
        assert e.clean is not None and sf.info(e.clean).samplerate == 16000


def test_banners(run: tuple[RunData, Summary], monkeypatch: pytest.MonkeyPatch) -> None:
    data, s = run
    monkeypatch.setattr(hl, "attack_limits", lambda _data: [8])
    monkeypatch.setattr(hl, "_corpora", lambda _s: ["synthetic"])
    status = data.status.assign(status=["failed"] + ["ok"] * (len(data.status) - 1))
    monkeypatch.setattr(type(data), "status", property(lambda _self: status))
    found = {b.kind: b.text for b in hl.banners(data, s, (0, 974))}
    assert set(found) == {"synthetic", "limited", "incomplete"}
    assert "0 of the paper's 974 numbers" in found["synthetic"] and "first 8 of 12 test samples" in found["limited"]
    assert found["incomplete"].startswith(f"1 of {len(status)} jobs are not ok (1 failed)")


def test_curves_draw_robust_accuracy_per_configuration(run: tuple[RunData, Summary]) -> None:
    _, s = run
    configs = hl.with_robust(hl.primary(s.attack_configs), s)
    assert configs.robust_accuracy.notna().all() and len(configs) == len(hl.primary(s.attack_configs))
    c = configs.iloc[0]
    rows = hl.primary(s.attack_rows)
    rows = rows[(rows.attack == c.attack) & (rows.dataset == c.dataset) & (rows.params == c.params)]
    by_seed = ((rows.y_clean == rows.y_true) & (rows.y_adv == rows.y_true)).groupby(rows.seed).mean()
    assert c.robust_accuracy == pytest.approx(float(by_seed.mean()))  # right before and under, mean over seeds
    assert c.robust_accuracy_lo <= c.robust_accuracy <= c.robust_accuracy_hi
    assert (configs.robust_accuracy <= configs.accuracy_mean + 1e-12).all()  # robust never above the paper metric
