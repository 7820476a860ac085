"""What the report says about a user's own model and corpus split (docs/bring-your-own.md): which model (its
factory or file name and sha256 prefix, as the tables' model column has it), which standardiser its inputs had,
and whether a manifest's own `split` / `fold` column was honoured. Read off the train rows (`standardiser`,
`user_split`, written by sercore.train); nothing is said for the paper's models on built-in corpora."""

from __future__ import annotations

import pandas as pd

from sercore import vocab

NAMING = ("Your model: named by its factory (`pkg.module:function`) or file name and the first 8 hex digits of "
          "the sha256 of its module's source or its .keras file (`sha256:1a2b3c4d`), so a table names the exact "
          "code or weights that ran; '(trained)': a trained file attacked as it is.")


def _user_rows(train: pd.DataFrame) -> pd.DataFrame:
    if "arch" not in train or "standardiser" not in train:
        return train.iloc[0:0]
    return train[~train["arch"].isin(vocab.ARCHS)]


def model_notes(train: pd.DataFrame) -> list[str]:
    """One note per user model (an `arch` that is none of the paper's): which standardiser its inputs had."""
    user = _user_rows(train).drop_duplicates(["arch", "standardiser"])
    return [f"{r.arch}: your model; inputs standardised by {r.standardiser}" for r in user.itertuples()]


def split_notes(train: pd.DataFrame) -> list[str]:
    """One note per corpus and protocol whose manifest has a split or fold column: honoured, or why not."""
    if "user_split" not in train or "dataset" not in train:
        return []
    rows = train[train["user_split"].notna()].drop_duplicates(["dataset", "protocol", "user_split"])
    return [f"{r.dataset}: {r.user_split} ({r.protocol} protocol)" for r in rows.itertuples()]


def meta_items(train: pd.DataFrame) -> list[str]:
    """The meta line's words on the user's model(s) and official splits (empty for a paper-only run)."""
    user = _user_rows(train).drop_duplicates(["arch", "standardiser"])
    items = [f"your model {r.arch} (inputs: {r.standardiser})" for r in user.itertuples()]
    return items + split_notes(train)


def conventions(train: pd.DataFrame) -> list[str]:
    """The conventions box's line on how a user's model is named (only when the run has one)."""
    return [NAMING] if len(_user_rows(train)) else []
