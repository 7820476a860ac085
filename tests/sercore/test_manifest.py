"""Manifest corpora: a CSV/JSONL table instead of a loader; every bad row named by file, line and column at once;
the audio checks per row with its line; the official split honoured; the route faithful to the EmoDB loader."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from sercore.augment import ORIGINAL
from sercore.datasets import LOADERS, load_corpus
from sercore.datasets.manifest import NO_LABEL, export_manifest, read_manifest, resolve
from sercore.errors import ConfigError
from sercore.specs import CorpusSpec, FeatureSettings
from sercore.splits import official_fold_split, official_split, paper_split
from sercore.vocab import BUILTIN_CORPORA


def _wav(path: Path, seconds: float = 0.5, sr: int = 16000, channels: int = 1, amp: float = 0.3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    y = amp * np.sin(2 * np.pi * 220 * t)
    sf.write(path, np.stack([y] * channels, axis=1) if channels > 1 else y, sr)


def _csv(path: Path, text: str) -> str:
    path.write_text(text.strip() + "\n")
    return str(path)


def _spec(tmp_path: Path, manifest: str, **kw: object) -> CorpusSpec:
    return CorpusSpec.model_validate({"name": "cremad", "root": str(tmp_path / "audio"), "manifest": manifest, **kw})


def test_manifest_corpus_labels_languages_rates_and_rejects_with_line_numbers(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    _wav(audio / "a" / "1001_ANG.wav", sr=16000)
    _wav(audio / "a" / "1002_HAP.wav", sr=44100, channels=2)  # any rate, stereo: accepted (resampled, mixed down)
    _wav(audio / "b" / "1003_SAD.wav", amp=0.0)  # silent
    _wav(audio / "b" / "1004_ANG.wav", seconds=0.02)  # too short
    (audio / "b" / "1005_HAP.wav").write_bytes(b"not audio")  # unreadable
    _wav(audio / "b" / "1006_SAD.wav")
    data = bytearray((audio / "b" / "1006_SAD.wav").read_bytes())
    (audio / "b" / "1006_SAD.wav").write_bytes(bytes(data[: len(data) // 2]))  # truncated
    manifest = _csv(tmp_path / "cremad.csv", """
path,emotion,speaker,gender,language,comment
a/1001_ANG.wav,ANG,1001,M,,first
a/1002_HAP.wav,HAP,1002,female,fr,
b/1003_SAD.wav,SAD,1003,m,,
b/1004_ANG.wav,ANG,1004,F,,
b/1005_HAP.wav,HAP,1005,f,,
b/1006_SAD.wav,SAD,1006,f,,
b/1007_SAD.wav,SAD,1007,f,,
""")
    spec = resolve(_spec(tmp_path, manifest, label_map={"ANG": "anger", "HAP": "happiness", "SAD": "sadness"},
                         language="en"))
    assert spec.kept_emotions == ("anger", "happiness", "sadness")  # every emotion of the manifest, sorted
    c = load_corpus(spec, tmp_path)
    assert c.files[["dataset", "path", "speaker", "gender", "emotion", "language", "manifest_line"]].values.tolist() \
        == [["cremad", "a/1001_ANG.wav", "1001", "male", "anger", "en", 2],
            ["cremad", "a/1002_HAP.wav", "1002", "female", "happiness", "fr", 3]]
    reasons = dict(zip(c.rejected["path"], c.rejected["reason"], strict=True))
    expected = {"b/1003_SAD.wav": (4, "all silent"), "b/1004_ANG.wav": (5, "too short"),
                "b/1005_HAP.wav": (6, "unreadable"), "b/1006_SAD.wav": (7, "truncated"),
                "b/1007_SAD.wav": (8, "no such file")}
    assert set(reasons) == set(expected)
    for path, (line, what) in expected.items():
        assert reasons[path].startswith(f"{manifest} line {line}: {what}"), reasons[path]


def test_a_built_in_name_keeps_its_rate_check_emotions_and_language(tmp_path: Path) -> None:
    _wav(tmp_path / "audio" / "03a01Fa.wav")
    _wav(tmp_path / "audio" / "03a01Ta.wav", sr=8000)
    manifest = _csv(tmp_path / "m.csv", "path,emotion,speaker,gender\n03a01Fa.wav,happiness,03,male\n"
                                        "03a01Ta.wav,sadness,03,male")
    spec = CorpusSpec(name="emodb", root=str(tmp_path / "audio"), manifest=manifest)
    assert spec.kept_emotions == BUILTIN_CORPORA["emodb"].emotions
    with pytest.raises(ConfigError, match="m.csv: emotions: 'neutral' is kept but no row has it"):
        load_corpus(spec, tmp_path)
    c = load_corpus(spec.model_copy(update={"emotions": ("happiness", "sadness")}), tmp_path)
    assert c.files["language"].tolist() == ["de"]
    assert "sample rate 8000 Hz in the header, but this corpus is recorded at 16000 Hz" in c.rejected.reason[0]
    assert {n: LOADERS[n].sample_rate for n in LOADERS} == {n: f.sample_rate for n, f in BUILTIN_CORPORA.items()}


def test_without_speaker_and_gender_columns_the_labels_are_unknown(tmp_path: Path) -> None:
    _wav(tmp_path / "audio" / "x.wav")
    _wav(tmp_path / "audio" / "y.wav")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "x.wav", "emotion": "anger"}\n\n{"path": "y.wav", "emotion": "fear"}\n')
    c = load_corpus(resolve(_spec(tmp_path, str(manifest))), tmp_path)
    assert c.files[["speaker", "gender", "language", "manifest_line"]].values.tolist() == [
        [NO_LABEL, NO_LABEL, "und", 1], [NO_LABEL, NO_LABEL, "und", 3]]


BAD_ROWS = """
path,emotion,speaker,gender,split
ok.wav,anger,s1,male,train
../escape.wav,anger,s1,male,train
/etc/passwd,anger,s1,male,train
ok.wav,fear,s1,male,val
sub/../other.wav,joy,s1,male,test
x.wav,,s1,male,test
y.wav,fear,,male,test
z.wav,fear,s2,robot,test
w.wav,fear,s2,female,holdout
v.wav,fear,s2,female,test,extra
"""
# (line, column, what the message says): one kind of problem each
PROBLEMS = [
    (3, "path", "leaves the root"),
    (4, "path", "absolute path outside the root"),
    (5, "path", "duplicate of line 2"),
    (6, "emotion", "unknown emotion"),
    (7, "emotion", "empty"),
    (8, "speaker", "empty speaker"),
    (9, "gender", "bad gender; expected male or female"),
    (10, "split", "bad split; expected one of train, val, test"),
]


def test_a_bad_manifest_gets_one_error_naming_file_line_and_column_of_every_problem(tmp_path: Path) -> None:
    manifest = _csv(tmp_path / "bad.csv", BAD_ROWS)
    with pytest.raises(ConfigError) as exc:
        read_manifest(_spec(tmp_path, manifest))
    lines = str(exc.value).splitlines()
    for line, column, what in PROBLEMS:
        hits = [m for m in lines if m.startswith(f"{manifest}:{line}: column {column!r}: ") and what in m]
        assert len(hits) == 1, (line, column, what, lines)
    assert any(m.startswith(f"{manifest}:11: 6 fields, the header has 5") for m in lines)  # a malformed row
    assert len(lines) == len(PROBLEMS) + 1  # nothing else, nothing twice
    assert "(got '../escape.wav')" in lines[0] and "(got 'joy')" in str(exc.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("file,emotion\na.wav,anger", r"m\.csv:1: column 'path': missing \(the manifest has file, emotion; required"),
    ("path,emotion,split,fold\na.wav,anger,train,0", r"m\.csv:1: column 'fold': give either a split column or a"),
    ("path,emotion,fold\na.wav,anger,x\nb.wav,fear,1", r"m\.csv:2: column 'fold': bad fold; expected an integer"),
    ("path,emotion,fold\na.wav,anger,0\nb.wav,fear,0", r"m\.csv: column 'fold': official folds need at least 2"),
    ("path,emotion,split\na.wav,anger,train\nb.wav,fear,test", r"m\.csv: column 'split': no row of split 'val'"),
    ("path,emotion\na.wav,anger\nb.wav,anger", r"m\.csv: column 'emotion': a classifier needs at least 2"),
    ("path,emotion", r"m\.csv: no rows: the manifest lists no file"),
])
def test_each_kind_of_table_problem(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        read_manifest(_spec(tmp_path, _csv(tmp_path / "m.csv", text)))


def test_jsonl_problems_and_spec_level_problems(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "a.wav", "emotion": "anger"}\n{"path": "b.wav", "emotion": \n[1, 2]\n'
                        '{"emotion": "fear"}\n')
    with pytest.raises(ConfigError) as exc:
        read_manifest(_spec(tmp_path, str(manifest)))
    assert re.search(r"m\.jsonl:2: not valid JSON", str(exc.value))
    assert re.search(r"m\.jsonl:3: expected one JSON object per line \(got list\)", str(exc.value))
    assert re.search(r"m\.jsonl:4: column 'path': empty", str(exc.value))
    with pytest.raises(ConfigError, match=r"emotions: 'fear' is kept but no row has it"):
        read_manifest(_spec(tmp_path, _csv(tmp_path / "k.csv", "path,emotion\na.wav,anger\nb.wav,sadness"),
                            emotions=["anger", "fear"]))
    with pytest.raises(ConfigError, match="manifest file not found"):
        read_manifest(_spec(tmp_path, str(tmp_path / "missing.csv")))
    with pytest.raises(ValueError, match="'ANG' maps to unknown emotion 'angry'"):
        _spec(tmp_path, "x.csv", label_map={"ANG": "angry"})
    with pytest.raises(ValueError, match="is not built in .* give its files as `manifest:"):
        CorpusSpec(name="cremad", root="/x")
    with pytest.raises(ValueError, match="corpus name must be a plain name"):
        CorpusSpec(name="../up", root="/x", manifest="x.csv")


def test_manifest_keys_stay_out_of_built_in_job_ids() -> None:
    plain = json.loads(CorpusSpec(name="emodb", root="/x").canonical_json())
    assert set(plain) == {"name", "root", "emotions", "synthetic_per_class"}
    with_manifest = CorpusSpec(name="emodb", root="/x", manifest="m.csv")
    assert with_manifest.job_id != CorpusSpec(name="emodb", root="/x").job_id


def _meta(splits: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Two segments per recording (original + one augmented copy), one recording per split value."""
    rows = [{"recording": f"r{i}", "version": v, "manifest_split": s, "manifest_fold": i % 3}
            for i, s in enumerate(splits) for v in (ORIGINAL, "pitch+1.5")]
    return pd.DataFrame(rows), np.array([i % 2 for i in range(len(rows))])


def test_the_official_split_and_folds_are_honoured() -> None:
    meta, labels = _meta(["train", "train", "val", "test", "test", "train"])
    split = official_split(meta, "manifest_split")
    side = meta.manifest_split.to_numpy()
    assert set(side[split.train]) == {"train"} and len(split.train) == 6  # augmented copies train too
    assert set(side[split.val]) == {"val"} and set(side[split.test]) == {"test"}
    assert (meta.version[split.test] == ORIGINAL).all() and len(split.test) == 2
    assert len(official_split(meta, "manifest_split", val_augmented=False).val) == 1
    meta, labels = _meta(["train"] * 12)
    for fold in range(3):
        s = official_fold_split(meta, labels, "manifest_fold", 0, fold, 3)
        assert set(meta.manifest_fold[s.test]) == {fold} and fold not in set(meta.manifest_fold[s.train])
    with pytest.raises(Exception, match=r"official folds are \[0, 1, 2\], but the grid asks for folds=4"):
        official_fold_split(meta, labels, "manifest_fold", 0, 0, 4)


def test_the_train_row_says_whether_the_official_split_was_honoured() -> None:
    from sercore.data import user_split
    from sercore.specs import DataSpec

    def spec(**kw: object) -> DataSpec:
        return DataSpec(corpus=CorpusSpec(name="mine", manifest="m.csv", root="."), **kw)  # type: ignore[arg-type]

    meta, _ = _meta(["train", "val", "test"])
    assert user_split(spec(protocol="clean"), meta) == "your split column honoured"
    assert user_split(spec(protocol="paper"), meta) == \
        "your split column not used: protocol 'paper' draws its own split"
    folds = meta.drop(columns="manifest_split")
    assert user_split(spec(protocol="clean", folds=3), folds) == "your fold column honoured"
    assert user_split(spec(protocol="clean"), folds.drop(columns="manifest_fold")) is None


@pytest.mark.emodb
def test_real_emodb_through_a_manifest_is_the_emodb_loader(emodb_root: Path, tmp_path: Path) -> None:
    """Same file table, same paper split; the same features bit for bit on a handful of files."""
    direct = load_corpus(CorpusSpec(name="emodb", root=str(emodb_root)), tmp_path)
    export_manifest(direct, tmp_path / "emodb.csv")
    spec = CorpusSpec(name="myemodb", root=str(emodb_root), manifest=str(tmp_path / "emodb.csv"),
                      emotions=BUILTIN_CORPORA["emodb"].emotions, language="de")
    routed = load_corpus(spec, tmp_path)
    cols = ["path", "speaker", "gender", "emotion", "language", "duration_s"]
    pd.testing.assert_frame_equal(direct.files[cols], routed.files[cols])
    assert len(direct.files) == 535 and routed.rejected.empty and direct.rejected.empty
    labels = [k.files["emotion"][k.files["emotion"].isin(spec.kept_emotions)].to_numpy() for k in (direct, routed)]
    a, b = (paper_split(np.unique(lab, return_inverse=True)[1], 1938) for lab in labels)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    from sercore.store import open_store

    kept = direct.files[direct.files["emotion"].isin(spec.kept_emotions)]
    subset = kept.groupby("emotion").head(2)["path"].tolist()  # two files of each kept emotion
    (tmp_path / "few").mkdir()
    for p in subset:
        shutil.copy2(emodb_root / p, tmp_path / "few" / p)
    export_manifest(load_corpus(CorpusSpec(name="emodb", root=str(tmp_path / "few")), tmp_path), tmp_path / "few.csv")
    fs = FeatureSettings(augment=False)
    one = open_store(CorpusSpec(name="emodb", root=str(tmp_path / "few")), fs, tmp_path / "cache", workers=1,
                     progress=False)
    two = open_store(spec.model_copy(update={"manifest": str(tmp_path / "few.csv")}), fs, tmp_path / "cache",
                     workers=1, progress=False)
    assert one.path != two.path and len(subset) == 10
    assert np.array_equal(np.asarray(one.x), np.asarray(two.x)) and one.x.dtype == two.x.dtype
    meta_cols = ["path", "speaker", "gender", "emotion", "version", "chunk"]
    pd.testing.assert_frame_equal(one.meta[meta_cols], two.meta[meta_cols])


def test_export_then_describe_the_manifest_gives_the_built_in_summary(cache_dir: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from sercore.cli.main import main
    from sercore.datasets import corpus_root

    root = str(corpus_root(CorpusSpec(name="synthetic", synthetic_per_class=1), cache_dir))
    out = tmp_path / "my synth.csv"
    assert main(["export-manifest", "synthetic", root, "-o", str(out), "--cache", str(cache_dir)]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: 20 files of synthetic")
    summaries = []
    for argv in (["synthetic", root], [str(out), "--root", root]):
        assert main(["describe", *argv, "--json", "--cache", str(cache_dir)]) == 0
        summaries.append(json.loads(capsys.readouterr().out))
    built_in, routed = summaries
    assert routed.pop("corpus") == "my-synth" and built_in.pop("corpus") == "synthetic"
    assert routed.pop("kept_emotions") == sorted(built_in.pop("kept_emotions"))  # a manifest's: sorted
    assert routed == built_in and built_in["files"] == 20
    assert main(["describe", str(out)]) == 2
    assert "needs the ROOT folder its paths are relative to" in capsys.readouterr().err


def test_prepare_honours_a_manifest_split_under_the_clean_protocol(cache_dir: Path, tmp_path: Path) -> None:
    from sercore.data import prepare
    from sercore.datasets import corpus_root
    from sercore.specs import DataSpec

    root = corpus_root(CorpusSpec(name="synthetic", synthetic_per_class=1), cache_dir)
    files = load_corpus(CorpusSpec(name="synthetic", root=str(root)), cache_dir, check=False).files
    side = {"f1": "test", "m1": "val"}
    table = files[["path", "emotion", "speaker"]].assign(split=files.speaker.map(lambda s: side.get(s, "train")))
    table.to_csv(tmp_path / "synth.csv", index=False)
    corpus = resolve(CorpusSpec(name="synth", root=str(root), manifest=str(tmp_path / "synth.csv")))
    p = prepare(DataSpec(corpus=corpus, features=FeatureSettings(augment=False), protocol="clean"), tmp_path)
    assert set(p.meta_test.speaker) == {"f1"} and set(p.meta_val.speaker) == {"m1"}
    assert set(p.meta_train.speaker) == {"f2", "m2"} and len(p.x_test) == (p.meta_test.chunk >= 0).sum() > 0
    assert set(p.meta_test.gender) == {NO_LABEL} and p.classes == tuple(sorted(set(files.emotion)))
