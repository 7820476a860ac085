"""Feature-store build speed against a plain sequential librosa loop over the same files.

    python benchmarks/features.py [CORPUS [ROOT]] [--limit N] [--workers W] [--json]

Prints files/s of
(1) the paper-style loop: librosa.load, trim, 4 pitch shifts + 4 stretches, 3 s chunks, one melspectrogram +
    amplitude_to_db call per segment, one process, BLAS threads as the library defaults (`baseline_files_per_s`,
    the reference of `ratio`), and the same loop with BLAS held to one thread (`baseline_1thread_files_per_s`,
    `ratio_1thread`): librosa's per-segment mel product is a tiny matrix multiply that a multi-threaded BLAS
    slows down badly on a busy machine, so this is the fairer per-core reference;
(2) `sercore.store.open_store` building a cold cache entry (parallel, shared and batched STFTs, cached
    filterbank, atomic write; its corpus check and write-out included);
their ratio, and the time of a cache hit. CPU seconds are printed too: on a shared machine the wall-clock ratio
depends on how many cores the store's workers actually got (`store_cores_used`).
Default corpus: the real EmoDB if found, else synthetic.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
from threadpoolctl import threadpool_limits

from sercore.datasets import kept, load_corpus
from sercore.extraction import default_workers
from sercore.specs import CorpusSpec, FeatureSettings
from sercore.store import open_store

EMODB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"


def baseline_file(path: Path, fs: FeatureSettings) -> int:
    """The paper notebook's per-file work, written plainly; returns the number of segments."""
    y, sr = librosa.load(path, sr=fs.sample_rate)
    y, _ = librosa.effects.trim(y, top_db=fs.trim_top_db, frame_length=fs.trim_frame_length,
                                hop_length=fs.trim_hop_length)
    signals = [y] + [librosa.effects.pitch_shift(y, sr=sr, n_steps=s) for s in fs.pitch_steps] \
        + [librosa.effects.time_stretch(y, rate=r) for r in fs.stretch_rates]
    n = int(fs.segment_s * sr)
    count = 0
    for sig in signals:
        pieces = [sig]
        if len(sig) >= n:
            pieces = []
            for start in range(0, len(sig), n):
                chunk, _ = librosa.effects.trim(sig[start:start + n], top_db=fs.trim_top_db,
                                                frame_length=fs.trim_frame_length, hop_length=fs.trim_hop_length)
                pieces.append(chunk)
        for p in pieces:
            if len(p) == 0:
                continue
            p = np.tile(p, -(-n // len(p)))[:n]
            mel = librosa.feature.melspectrogram(y=p, sr=sr, n_fft=fs.n_fft, hop_length=fs.hop_length,
                                                 n_mels=fs.n_mels)
            librosa.amplitude_to_db(mel, ref=np.min)
            count += 1
    return count


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the store's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def subset_root(spec: CorpusSpec, cache: Path, limit: int | None, into: Path) -> tuple[CorpusSpec, list[Path]]:
    """The kept files, optionally only the first `limit`, exposed under `into` as symlinks (same layout)."""
    corpus = load_corpus(spec, cache)
    files = kept(corpus.files, spec.kept_emotions)["path"].tolist()[:limit]
    for rel in files:
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        (into / rel).symlink_to(corpus.root / rel)
    return CorpusSpec(name=spec.name, root=str(into)), [into / rel for rel in files]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default="emodb" if EMODB.is_dir() else "synthetic")
    ap.add_argument("root", nargs="?", default=None)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N kept files")
    ap.add_argument("--workers", type=int, default=None, help=f"store workers (default {default_workers()})")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    root = args.root or (str(EMODB) if args.corpus == "emodb" else None)
    fs = FeatureSettings()
    with tempfile.TemporaryDirectory(prefix="sertack-bench-") as tmp:
        tmp_path = Path(tmp)
        spec, paths = subset_root(CorpusSpec(name=args.corpus, root=root), tmp_path / "gen", args.limit,
                                  tmp_path / "corpus")
        t0, c0 = time.perf_counter(), _cpu()
        base_segments = sum(baseline_file(p, fs) for p in paths)
        base_s, base_cpu = time.perf_counter() - t0, _cpu() - c0
        with threadpool_limits(1):
            t0, c0 = time.perf_counter(), _cpu()
            sum(baseline_file(p, fs) for p in paths)
            base1_s, base1_cpu = time.perf_counter() - t0, _cpu() - c0
        cache = tmp_path / "cache"
        t0, c0 = time.perf_counter(), _cpu()
        store = open_store(spec, fs, cache, workers=args.workers, progress=not args.json)
        store_s, store_cpu = time.perf_counter() - t0, _cpu() - c0
        t0 = time.perf_counter()
        open_store(spec, fs, cache, workers=args.workers, progress=False)
        hit_s = time.perf_counter() - t0
    out = {"corpus": args.corpus, "files": len(paths), "workers": args.workers or default_workers(),
           "cpus": os.cpu_count(), "baseline_segments": base_segments, "store_segments": int(len(store.meta)),
           "baseline_s": round(base_s, 2), "store_s": round(store_s, 2),
           "baseline_files_per_s": round(len(paths) / base_s, 2), "store_files_per_s": round(len(paths) / store_s, 2),
           "ratio": round(base_s / store_s, 2), "cache_hit_s": round(hit_s, 4),
           "baseline_1thread_files_per_s": round(len(paths) / base1_s, 2), "ratio_1thread": round(base1_s / store_s, 2),
           "baseline_cpu_s": round(base_cpu, 2), "baseline_1thread_cpu_s": round(base1_cpu, 2),
           "store_cpu_s": round(store_cpu, 2), "store_cores_used": round(store_cpu / store_s, 2),
           "load_average": [round(v, 2) for v in os.getloadavg()]}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{out['corpus']}: {out['files']} files, {out['store_segments']} segments "
              f"(baseline loop counted {base_segments})")
        print(f"  plain librosa loop (1 process): {out['baseline_files_per_s']:8.2f} files/s  ({base_s:.1f} s)")
        print(f"  same loop, BLAS 1 thread:       {out['baseline_1thread_files_per_s']:8.2f} files/s  "
              f"({base1_s:.1f} s)")
        print(f"  feature store ({out['workers']} workers):    {out['store_files_per_s']:8.2f} files/s  "
              f"({store_s:.1f} s)")
        print(f"  CPU seconds: loop {base_cpu:.1f}, 1-thread loop {base1_cpu:.1f}, store {store_cpu:.1f} "
              f"(the store got {out['store_cores_used']:.2f} cores on average; a busy machine gives it fewer)")
        print(f"  ratio: {out['ratio']:.2f}x (vs 1-thread loop {out['ratio_1thread']:.2f}x)   "
              f"cache hit: {hit_s * 1000:.1f} ms   load average {out['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
