"""describe(): the numbers a user checks before trusting a corpus copy, as a dict and from the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from sercore.cli import describe as describe_cli
from sercore.datasets import corpus_root
from sercore.describe import describe
from sercore.errors import ConfigError
from sercore.specs import CorpusSpec

TINY = CorpusSpec(name="synthetic", synthetic_per_class=1)  # shares its feature store with test_store.py


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    describe_cli.register_cli(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_describe_synthetic_with_segments(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = corpus_root(TINY, cache_dir)
    args = _cli(["describe", "synthetic", str(root), "--segments", "--json", "--cache", str(cache_dir)])
    assert args.func(args) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["files"] == d["kept_files"] == 4 * 5
    assert d["by_gender"] == {"female": 10, "male": 10} and len(d["speakers"]) == 4
    assert set(d["by_emotion"]) == {"boredom", "disgust", "happiness", "neutral", "sadness"}
    assert d["rejected"] == [] and d["shape"] == [d["segments"], 261, 128] and d["segments"] >= 20 * 9


def test_text_output_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], cache_dir: Path) -> None:
    (tmp_path / "03a01Fa.wav").write_bytes(b"junk")
    (tmp_path / "hello.wav").write_bytes(b"junk")
    with pytest.raises(Exception, match="no recognisable audio files"):
        describe("emodb", tmp_path, cache_dir=cache_dir)
    with pytest.raises(ConfigError, match="needs a ROOT"):
        describe("emovo", None)
    args = _cli(["describe", "synthetic", str(corpus_root(TINY, cache_dir)), "--cache", str(cache_dir)])
    args.func(args)
    out = capsys.readouterr().out
    assert "speakers (4): f1 f2 m1 m2" in out and "kept boredom" in out


@pytest.mark.emodb
def test_describe_real_emodb(emodb_root: Path, cache_dir: Path) -> None:
    d = describe("emodb", emodb_root, cache_dir=cache_dir)
    assert (d["files"], d["kept_files"], len(d["speakers"])) == (535, 339, 10)
    assert d["by_gender"] == {"female": 302, "male": 233} and d["rejected"] == []


@pytest.mark.emodb
def test_describe_a_manifest_of_real_emodb_files_with_its_split(emodb_root: Path, cache_dir: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from sercore.cli.main import main

    manifest = Path(__file__).resolve().parents[2] / "examples" / "berlin-mini.csv"  # the byo grid's second corpus
    assert main(["describe", str(manifest), "--root", str(emodb_root), "--name", "berlin", "--label-map",
                 "W=anger,F=happiness,T=sadness,N=neutral", "--cache", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert "files: 40 recognised, 0 rejected; 40 kept (anger, happiness, neutral, sadness)" in out
    assert "your split column (files): {'test': 8, 'train': 24, 'val': 8}; the clean protocol honours it" in out
