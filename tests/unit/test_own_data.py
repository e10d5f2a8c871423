"""An engineer's own feed, in and out: string ids, a CSV with a header, an unlabeled file, IG and
NS from the command line and from Python, predict, recommend, save / load, positive-only data."""
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import invlearn
from invlearn.cli import main
from invlearn.errors import InvlearnError, InvlearnWarning
from invlearn.owndata import files_split, id_map, own_split, read_interactions

FAST = {"epochs": 2, "threads": 1, "progress": False, "batch_size": 256}


def feed(seed: int = 0, n: int = 1500, users: int = 60, items: int = 50) -> pd.DataFrame:
    """Rated pairs with text ids; a user likes items of the same group (mod 3)."""
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, users, n), rng.integers(0, items, n)
    liked = u % 3 == i % 3
    table = pd.DataFrame({"user": [f"u{x}" for x in u], "item": [f"video_{x}" for x in i],
                          "rating": np.where(liked, rng.integers(4, 6, n), rng.integers(1, 3, n))})
    return table.drop_duplicates(["user", "item"]).reset_index(drop=True)


def unlabeled_pairs(seed: int = 1, n: int = 400, users: int = 60, items: int = 55):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"user": [f"u{x}" for x in rng.integers(0, users, n)],
                         "item": [f"video_{x}" for x in rng.integers(0, items, n)]})


@pytest.fixture
def files(tmp_path):
    table = feed()
    table.to_csv(tmp_path / "feed.csv", index=False)
    unlabeled_pairs().to_csv(tmp_path / "unlabeled.csv", index=False)
    table[table.rating >= 4][["user", "item"]].to_csv(tmp_path / "clicks.csv", index=False,
                                                     header=False)
    return {"feed": tmp_path / "feed.csv", "unlabeled": tmp_path / "unlabeled.csv",
            "clicks": tmp_path / "clicks.csv", "table": table}


# -- reading ----------------------------------------------------------------------------------


def test_read_detects_header_and_separator_and_keeps_text_ids(files):
    table = read_interactions(files["feed"])
    assert len(table) == len(files["table"])
    assert table["user"].iloc[0] == files["table"]["user"].iloc[0]
    expected = (files["table"]["rating"] >= 3).astype(np.float32).to_numpy()
    assert np.array_equal(table["label"].to_numpy(), expected)  # the default threshold 3
    four = read_interactions(files["feed"], rating_threshold=4)
    assert four["label"].sum() == (files["table"]["rating"] >= 4).sum()
    clicks = read_interactions(files["clicks"])
    assert clicks.attrs["positive_only"] and clicks["label"].eq(1).all()


def test_read_label_column_separators_and_integer_ids(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("item;user;label\n10;7;1\n9;7;0\n10;8;0\n")
    table = read_interactions(path)
    assert table["user"].tolist() == [7, 7, 8] and table["item"].tolist() == [10, 9, 10]
    assert table["label"].tolist() == [1, 0, 0] and table["user"].dtype == np.int64
    tab = tmp_path / "t.tsv"
    tab.write_text("1\t2\t5\n3\t4\t1\n")
    assert read_interactions(tab)["label"].tolist() == [1, 0]  # headerless, guessed tab
    padded = tmp_path / "p.csv"
    padded.write_text("007,1,5\n7,1,1\n")
    assert read_interactions(padded)["user"].tolist() == ["007", "7"]  # two ids, kept as text
    forced = read_interactions(tab, header=True, rating_threshold=3)  # line 1 as a header
    assert forced["label"].tolist() == [0]


def test_read_refuses_what_would_mislead(tmp_path):
    binary = tmp_path / "b.csv"
    binary.write_text("u1,i1,1\nu2,i1,0\n")
    with pytest.raises(InvlearnError, match="every rating is 0 or 1.*rating-threshold"):
        read_interactions(binary)
    assert read_interactions(binary, rating_threshold=1)["label"].tolist() == [1, 0]
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,label\nu1,i1,1\nu2,i2,2\n")
    with pytest.raises(InvlearnError, match=r"bad.csv, line 3: label '2' is not 0 or 1"):
        read_interactions(bad)
    gap = tmp_path / "gap.csv"
    gap.write_text("u1,i1,4\nu2,,3\n")
    with pytest.raises(InvlearnError, match=r"gap.csv, line 2: missing"):
        read_interactions(gap)
    with pytest.raises(InvlearnError, match="does not exist"):
        read_interactions(tmp_path / "absent.csv")


def test_id_maps_are_sorted_and_mixed_ids_work():
    assert id_map(["u2", "u10", "u1"]).tolist() == ["u1", "u10", "u2"]
    assert id_map([3, 1], [2]).tolist() == [1, 2, 3]
    mixed = id_map(["a", 1, ("t", 2)])  # any hashable ids, in order of first appearance
    assert mixed.tolist() == ["a", 1, ("t", 2)]


# -- splits -----------------------------------------------------------------------------------


def test_own_split_maps_ids_and_keeps_the_unlabeled_pool():
    table = feed().assign(label=lambda t: (t.rating >= 4).astype(int)).drop(columns="rating")
    pool = unlabeled_pairs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        split = own_split(table, (0.6, 0.2, 0.2), seed=3, unlabeled=pool)
    assert len(split.train) + len(split.valid) + len(split.test) == len(table)
    back = pd.DataFrame({"user": split.user_ids[split.train["user"]],
                         "item": split.item_ids[split.train["item"]]})
    merged = back.merge(table, on=["user", "item"])
    assert len(merged) == len(split.train)  # every training row maps back to a row of table
    assert len(split.unlabeled) == len(pool)
    assert split.item_ids[split.unlabeled["item"]].tolist() == pool["item"].tolist()
    assert split.n_items == len(set(table["item"]) | set(pool["item"]))  # pool-only items too


def test_positive_only_gets_seeded_sampled_negatives(files):
    clicks = files["table"].query("rating >= 4")[["user", "item"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        a = own_split(clicks, seed=5)
        b = own_split(clicks, seed=5)
    assert a.train["label"].eq(1).all()
    for part in ("valid", "test"):
        table = getattr(a, part)
        sampled = table[table["sampled"]]
        assert sampled["label"].eq(0).all() and table[~table["sampled"]]["label"].eq(1).all()
        assert 0 < len(sampled) <= (~table["sampled"]).sum()
        assert table.equals(getattr(b, part))  # seeded
        keys = set(zip(clicks["user"], clicks["item"]))
        pairs = zip(a.user_ids[sampled["user"]], a.item_ids[sampled["item"]])
        assert not keys & set(pairs)  # never an item the user interacted with
    assert "sampled negative" in a.info["evaluation"]


def test_files_split_reads_three_csv_files_with_text_ids(tmp_path):
    table = feed()
    shuffled = table.sample(frac=1, random_state=0)
    parts = [shuffled.iloc[:900], shuffled.iloc[900:1100], shuffled.iloc[1100:]]
    for name, part in zip(("train", "valid", "test"), parts):
        part.to_csv(tmp_path / f"{name}.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        split = files_split(*(tmp_path / f"{n}.csv" for n in ("train", "valid", "test")))
    assert len(split.test) == len(parts[2]) and split.user_ids.dtype == object


# -- training, scores, recommendations, save / load ------------------------------------------


@pytest.fixture
def trained(files):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        data = invlearn.data_split(files["feed"], (0.6, 0.2, 0.2), seed=0, rating_threshold=4,
                                   unlabeled=files["unlabeled"])
    return data, invlearn.train(data, method="ig", pool="unlabeled", **FAST)


def test_unlabeled_rows_come_from_the_unlabeled_file(files):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        data = invlearn.data_split(files["feed"], seed=0, unlabeled=files["unlabeled"])
    result = invlearn.train(data, method="idl", pool="unlabeled", **FAST)
    pool = set(zip(data.unlabeled["user"], data.unlabeled["item"]))
    for rec in result.history.weights.values():
        assert set(zip(rec["user"].tolist(), rec["item"].tolist())) <= pool
        assert "true" not in rec  # no true labels for your own unlabeled rows
    with pytest.raises(InvlearnError, match="pool 'unlabeled' is empty"):
        bare = invlearn.data_split(files["feed"], seed=0)
        invlearn.train(bare, method="ns", pool="unlabeled", **FAST)


def test_train_unlabeled_table_maps_ids_and_drops_unknown_ones(files):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        data = invlearn.data_split(files["feed"], seed=0)
    pool = pd.DataFrame({"user": ["u1", "u2", "nobody"], "item": ["video_1", "video_2", "x"]})
    with pytest.warns(InvlearnWarning, match="1 of 3 pairs"):
        result = invlearn.train(data, method="ns", unlabeled=pool, **FAST)
    assert result.config.pool == "unlabeled"
    with pytest.raises(InvlearnError, match="none of its 1 pairs"):
        invlearn.train(data, method="ns", unlabeled=pool.tail(1), **FAST)


def test_predict_and_recommend_take_and_return_original_ids(trained, files):
    data, result = trained
    scores = result.predict(["u1", "u2"], ["video_3", "video_4"])
    u = [int(np.flatnonzero(data.user_ids == x)[0]) for x in ("u1", "u2")]
    i = [int(np.flatnonzero(data.item_ids == x)[0]) for x in ("video_3", "video_4")]
    with torch.no_grad():
        logits = result.model(torch.tensor(u), torch.tensor(i))
    assert np.allclose(scores, torch.sigmoid(logits).numpy())
    assert np.array_equal(result.predict("u1", ["video_3", "video_4"])[0:1], scores[0:1])
    seen = set(files["table"].query("user == 'u1'")["item"])
    seen |= set(pd.read_csv(files["unlabeled"]).query("user == 'u1'")["item"])
    top = result.recommend("u1", k=10)
    assert len(top) == 10 and not seen & set(top["item"])
    assert all(item.startswith("video_") for item in top["item"])
    assert np.array_equal(top["score"].to_numpy(), result.predict("u1", top["item"].tolist()))
    assert top["score"].is_monotonic_decreasing
    everything = result.recommend("u1", k=data.n_items, exclude_seen=False)
    assert len(everything) == data.n_items and seen <= set(everything["item"])
    with pytest.raises(InvlearnError, match="unknown user id 'nobody'"):
        result.recommend("nobody")
    with pytest.raises(InvlearnError, match="unknown item id 'x'"):
        result.predict(["u1"], ["x"])


def test_save_then_load_scores_identically(trained, tmp_path):
    data, result = trained
    path = tmp_path / "model.pt"
    result.save(path)
    loaded = invlearn.load(path)
    users = list(np.resize(data.user_ids, 50))
    items = list(data.item_ids[:50])
    assert np.array_equal(loaded.predict(users, items), result.predict(users, items))
    assert loaded.recommend("u7", k=8).equals(result.recommend("u7", k=8))
    assert loaded.config == result.config and loaded.metrics == result.metrics
    assert not list(tmp_path.glob(".model.pt.*"))  # no temporary file left behind
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(InvlearnError, match="not a model saved by invlearn"):
        invlearn.load(junk)


# -- the command line -------------------------------------------------------------------------


def test_cli_trains_ig_and_ns_on_own_files_and_saves(files, tmp_path, capsys):
    model = tmp_path / "ig.pt"
    code = main(["train", "--quiet", "--data", str(files["feed"]), "--split", "0.6,0.2,0.2",
                 "--rating-threshold", "4", "--unlabeled", str(files["unlabeled"]),
                 "--method", "ig", "--epochs", "2", "--threads", "1", "--save-model",
                 str(model)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "ig / gmf on feed" in printed and "full ranking" in printed
    loaded = invlearn.load(model)
    assert loaded.config.pool == "unlabeled" and loaded.config.method == "ig"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        data = invlearn.data_split(files["feed"], (0.6, 0.2, 0.2), seed=0, rating_threshold=4,
                                   unlabeled=files["unlabeled"])
        again = invlearn.train(data, method="ig", pool="unlabeled", epochs=2, threads=1,
                               progress=False)
    assert loaded.metrics == pytest.approx(again.metrics)  # the CLI is the Python path
    code = main(["train", "--quiet", "--data", str(files["clicks"]), "--method", "ns",
                 "--epochs", "1", "--threads", "1", "--eval-negatives", "2"])
    assert code == 0
    assert "evaluation: positive-only data: each validation / test positive gets 2" in \
        capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [
    (["--split", "0.5,0.5"], "--split"),
    (["--split", "0.6,0.2,0.2", "--train", "x.csv"], "--data"),
    (["--pool", "random"], "--unlabeled"),
    (["--save-model", "."], "--save-model"),
])
def test_cli_bad_own_data_input_is_one_line(files, capsys, args, needle):
    base = ["train", "--quiet", "--data", str(files["feed"]), "--unlabeled",
            str(files["unlabeled"]), "--epochs", "1"]
    assert main([*base, *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_grid_spec_paths_are_relative_to_the_spec_and_checked_first(files, tmp_path, capsys,
                                                                    monkeypatch):
    import json

    folder = tmp_path / "specs"
    folder.mkdir()
    spec = {"base": {"dataset": "files", "data": "../feed.csv", "epochs": 1, "threads": 1},
            "grid": {"method": ["ns"]}, "seeds": [0, 1]}
    (folder / "spec.json").write_text(json.dumps(spec))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no book/experiment.ipynb here: the python engine
    assert main(["grid", "--spec", str(folder / "spec.json"), "--out", "out", "--jobs", "1",
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "mean ± std over seeds" in printed and "2 final runs" in printed
    results = pd.read_csv(elsewhere / "out" / "results.csv")
    assert results["auc"].notna().all() and len(results) == 2
    spec["base"]["unlabeled"] = "absent.csv"
    (folder / "bad.json").write_text(json.dumps(spec))
    assert main(["grid", "--spec", str(folder / "bad.json"), "--out", "out2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "absent.csv does not exist" in err and err.count("\n") == 1
    assert not (elsewhere / "out2").exists()


def test_misuse_says_what_to_do_instead(files):
    table = feed().assign(label=1)
    with pytest.raises(InvlearnError, match="not integers.*own_split"):
        invlearn.data.random_split(table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InvlearnWarning)
        data = invlearn.data_split(files["feed"], seed=0)
    with pytest.raises(InvlearnError, match="drop pool='random'"):
        invlearn.train(data, method="ns", pool="random", unlabeled=unlabeled_pairs(), **FAST)
    with pytest.raises(InvlearnError, match="srns draws from the pool"):
        invlearn.train(data, method="srns", unlabeled=unlabeled_pairs(), **FAST)
