"""Tests of invlearn.data: reading, checking, labelling, splitting and fetching (chapter 1)."""
from __future__ import annotations

import hashlib
import os
import pathlib
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from invlearn import data
from invlearn.data import (
    DATASETS,
    MOVIELENS,
    Split,
    binarize,
    data_home,
    fetch_movielens,
    load_dataset,
    load_movielens,
    load_split_files,
    random_split,
    read_ratings,
)
from invlearn.errors import InvlearnError

REPO = pathlib.Path(__file__).resolve().parents[1]


def write(folder: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = folder / name
    path.write_text(text)
    return path


def ratings_table(n: int = 50, seed: int = 0) -> pd.DataFrame:
    """``n`` distinct (user, item) pairs of 40 users and 60 items with random ratings 1-5."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(40 * 60, size=n, replace=False)
    return pd.DataFrame({"user": pairs // 60, "item": pairs % 60,
                         "rating": rng.integers(1, 6, n).astype(np.float32)})


# ------------------------------------------------------------------------------ data_home


def test_data_home_order(tmp_path, monkeypatch):
    monkeypatch.setenv("INVLEARN_DATA", str(tmp_path / "env"))
    assert data_home(tmp_path / "arg") == tmp_path / "arg"
    assert data_home() == tmp_path / "env"
    monkeypatch.delenv("INVLEARN_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_home() == tmp_path / "xdg" / "invlearn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_home() == tmp_path / "home" / ".cache" / "invlearn"
    with pytest.raises(InvlearnError, match="data_home"):
        data_home("")


# ------------------------------------------------------------------------------ read_ratings


def test_read_ratings_tab_and_double_colon(tmp_path):
    tab = write(tmp_path, "u.data", "1\t10\t5\t100\n2\t20\t1\t200\n")
    colon = write(tmp_path, "ratings.dat", "1::10::5::100\r\n2::20::1::200\r\n")
    for table in (read_ratings(tab), read_ratings(colon, sep="::")):
        assert list(table.columns) == ["user", "item", "rating", "timestamp"]
        assert table["user"].tolist() == [1, 2]
        assert table["item"].tolist() == [10, 20]
        assert table["rating"].dtype == np.float32
        assert table["user"].dtype == np.int64
        assert table["timestamp"].tolist() == [100, 200]


def test_read_ratings_big_ids_half_stars_and_optional_timestamp(tmp_path):
    path = write(tmp_path, "r.tsv", f"{2**40}\t{2**33}\t4.5\n0\t1\t0.5\n")
    table = read_ratings(path, rating_range=(0.5, 5), min_fields=3)
    assert list(table.columns) == ["user", "item", "rating"]
    assert table["user"].tolist() == [2**40, 0]
    assert table["rating"].tolist() == [4.5, 0.5]
    table = read_ratings(write(tmp_path, "s.tsv", "1\t2\t-7\n"), rating_range=None, min_fields=3)
    assert table["rating"].tolist() == [-7]


@pytest.mark.parametrize(
    ("text", "sep", "pattern"),
    [
        ("", "\t", "is empty"),
        ("\n  \n", "\t", "is empty"),
        ("1,2,3,4\n5,6,7,8\n", "\t", r"single field.*wrong separator.*','"),
        ("1\t2\t3\t4\n1\t2\t3\t4\n1\t2\t3\n", "\t", "line 3: missing or empty field"),
        ("1\t2\t3\t4\n1\t2\t3\t4\t5\n", "\t", "line 2: 5 fields, expected 4"),
        ("1\t2\t3\n", "\t", "line 1 has 3 fields, expected 4"),
        ("1\t2\t3\t4\n1\t\t3\t4\n", "\t", "line 2: missing or empty field"),
        ("user\titem\trating\tts\n1\t2\t3\t4\n", "\t", "line 1: user id 'user' is not an int"),
        ("1\t2\t3\t4\n\n1\tx7\t3\t4\n", "\t", "line 3: item id 'x7' is not an integer"),
        ("1\t2\t3\t4\n1.5\t2\t3\t4\n", "\t", "line 2: user id '1.5' is not an integer"),
        ("1\t2\t3\t4\n1\t-2\t3\t4\n", "\t", "line 2: item id -2 is negative"),
        ("1\t2\t3\t4\n1\t2\tgood\t4\n", "\t", "line 2: rating 'good' is not a number"),
        ("1\t2\t3\t4\n1\t2\t6\t4\n", "\t", r"line 2: rating 6 outside the range \[1, 5\]"),
        ("1\t2\t0\t4\n", "\t", r"line 1: rating 0 outside"),
        ("1\t2\t3\tnoon\n", "\t", "line 1: timestamp value 'noon' is not an integer"),
        (f"{2**64 - 1}\t2\t3\t4\n", "\t", "line 1: user id 18446744073709551615 is too large"),
        ("1\t2\t3\t4\n" * 300 + f"{10**23}\t2\t3\t4\n", "\t",
         r"line 301: user id 100000000000000000000000 is too large: it must fit a signed 64-bit"),
        ("1\t2\t3\t4\n" * 3 + f"1\t2\t3\t{2**63}\n", "\t", "line 4: timestamp value 9223"),
        ("1\t2\t3\t4\nnan\t2\t3\t4\n", "\t", r"line 2: user id 'nan' is not an integer \(line"),
        ("nan\t2\t3\t4\n", "\t", r"line 1: user id 'nan' is not an integer \(line"),
        ("1\t2\t3\t4\n1\tNA\t3\t4\n", "\t", "line 2: item id 'NA' is not an integer"),
        ("1\t2\t3\t4\n1\t2\tnan\t4\n", "\t", "line 2: rating 'nan' is not a number"),
        ("1\t2\t3\t4\n1\t2\tinf\t4\n", "\t", "line 2: rating inf is not a finite number"),
        ("1::2::3::4\n1::2::3\n", "::", "line 2: missing or empty field"),
    ],
)
def test_read_ratings_rejects_bad_files(tmp_path, text, sep, pattern):
    path = write(tmp_path, "bad.txt", text)
    with pytest.raises(InvlearnError, match=pattern) as info:
        read_ratings(path, sep=sep)
    assert str(path) in str(info.value)
    assert "header" not in str(info.value) or "line 1:" in str(info.value)


def test_binary_junk_is_reported_with_its_line(tmp_path):
    path = tmp_path / "junk.tsv"
    path.write_bytes(b"1\t2\t3\t4\n\xff\xfe\t\x00\t3\t4\n")
    with pytest.raises(InvlearnError, match=r"junk.tsv, line 2: user id '\xff\xfe' is not an"):
        read_ratings(path)


def test_read_ratings_missing_file(tmp_path):
    with pytest.raises(InvlearnError, match="does not exist") as info:
        read_ratings(tmp_path / "nowhere.tsv")
    assert "nowhere.tsv" in str(info.value)


# ------------------------------------------------------------------------------ binarize


def test_binarize_counts_and_dtype():
    table = pd.DataFrame({"user": [0, 0, 1, 1, 2], "item": [0, 1, 0, 1, 2],
                          "rating": [1.0, 2.0, 3.0, 4.0, 5.0]})
    labelled = binarize(table)
    assert labelled["label"].dtype == np.float32
    assert labelled["label"].tolist() == [0, 0, 1, 1, 1]
    assert "label" not in table.columns
    assert binarize(table, threshold=4.5)["label"].sum() == 1
    with pytest.raises(InvlearnError, match="rating"):
        binarize(table.drop(columns="rating"))
    with pytest.raises(InvlearnError, match="threshold"):
        binarize(table, threshold="3")


# ------------------------------------------------------------------------------ random_split


def test_random_split_is_seeded_disjoint_and_complete():
    table = binarize(ratings_table(1000))
    split = random_split(table, seed=3)
    assert isinstance(split, Split)
    assert [len(split.train), len(split.valid), len(split.test)] == [600, 200, 200]
    keys = [tuple(map(tuple, p[["user", "item", "rating"]].to_numpy()))
            for p in (split.train, split.valid, split.test)]
    again = random_split(table, seed=3)
    pd.testing.assert_frame_equal(split.train, again.train)
    pd.testing.assert_frame_equal(split.test, again.test)
    other = random_split(table, seed=4)
    assert not split.train.equals(other.train)
    # every row lands in exactly one part: mark rows by position and compare
    marked = table.assign(row=np.arange(len(table)))
    parts = random_split(marked, seed=3)
    rows = np.concatenate([p["row"].to_numpy() for p in (parts.train, parts.valid, parts.test)])
    assert np.array_equal(np.sort(rows), np.arange(len(table)))
    assert len(keys[0]) == 600
    assert split.n_users == table["user"].max() + 1
    assert split.n_items == table["item"].max() + 1
    assert random_split(table, n_users=50, n_items=60).n_items == 60


@pytest.mark.parametrize(
    "fractions",
    [(0.5, 0.5), (0.6, 0.2, 0.1), (0.8, 0.4, -0.2), (1.0, 0.0, 0.0), (0.6, 0.2, 0.2, 0.0),
     "abc", None],
)
def test_random_split_rejects_bad_fractions(fractions):
    with pytest.raises(InvlearnError, match="fractions"):
        random_split(binarize(ratings_table()), fractions=fractions)


def test_random_split_rejects_empty_parts_and_missing_labels():
    table = binarize(ratings_table(3))
    with pytest.raises(InvlearnError, match="split empty"):
        random_split(table, fractions=(0.9, 0.05, 0.05))
    with pytest.raises(InvlearnError, match="label"):
        random_split(ratings_table())


# ------------------------------------------------------------------------------ load_split_files


def test_load_split_files_maps_ids_over_the_union(tmp_path):
    train = write(tmp_path, "a.train", "100\t7\t5\n300\t9\t2\n100\t9\t3\n")
    valid = write(tmp_path, "a.valid", "200\t8\t1\t11\n100\t8\t4\t12\n")
    test = write(tmp_path, "a.test", "300\t5\t4\n200\t7\t1\n")
    split = load_split_files(train, valid, test)
    assert split.n_users == 3
    assert split.n_items == 4
    assert split.user_ids.tolist() == [100, 200, 300]
    assert split.item_ids.tolist() == [5, 7, 8, 9]
    assert split.train["user"].tolist() == [0, 2, 0]
    assert split.train["item"].tolist() == [1, 3, 3]
    assert split.train["label"].tolist() == [1, 0, 1]
    assert split.valid["label"].tolist() == [0, 1]
    assert split.user_ids[split.test["user"]].tolist() == [300, 200]
    assert split.item_ids[split.valid["item"]].tolist() == [8, 8]
    assert split.valid["timestamp"].tolist() == [11, 12]
    assert load_split_files(train, valid, test, rating_threshold=4).train["label"].sum() == 1


def test_load_split_files_names_the_bad_file(tmp_path):
    good = write(tmp_path, "good", "1\t2\t3\n")
    bad = write(tmp_path, "bad.valid", "1\t2\n")
    wide = write(tmp_path, "wide.test", "1\t2\t3\t4\t5\n")
    with pytest.raises(InvlearnError, match=r"bad.valid"):
        load_split_files(good, bad, good)
    with pytest.raises(InvlearnError, match=r"wide.test.*5 fields, expected 3 to 4"):
        load_split_files(good, good, wide)
    with pytest.raises(InvlearnError, match="absent"):
        load_split_files(good, good, tmp_path / "absent")


# ------------------------------------------------------------------------------ load_dataset


def test_load_dataset_names_and_options(tmp_path):
    with pytest.raises(InvlearnError, match="ml-1m, ml-100k, ml-1m-paper, sim, files"):
        load_dataset("ml-10m")
    assert DATASETS == ("ml-1m", "ml-100k", "ml-1m-paper", "sim", "files")
    with pytest.raises(InvlearnError, match="ml-1m, ml-100k"):
        load_movielens("ml-20m", data_home=tmp_path)
    with pytest.raises(InvlearnError, match="missing: valid, test"):
        load_dataset("files", train="x")
    with pytest.raises(InvlearnError, match="takes no option"):
        load_dataset("ml-1m", data_home=tmp_path, frac=0.5)
    with pytest.raises(InvlearnError, match=r"ml1m.train.rating"):
        load_dataset("ml-1m-paper", data_home=tmp_path)
    path = write(tmp_path, "t", "1\t2\t3\n2\t3\t1\n")
    other = write(tmp_path, "v", "1\t3\t3\n2\t2\t1\n")
    test = write(tmp_path, "w", "1\t1\t3\n2\t1\t1\n")
    split = load_dataset("files", train=path, valid=other, test=test)
    assert split.name == "files"
    assert split.n_users == 2
    with pytest.raises(InvlearnError, match="test part holds the same rows as the valid part"):
        load_dataset("files", train=path, valid=other, test=other)
    with pytest.raises(InvlearnError, match="test part holds the same rows as the train part"):
        load_dataset("files", train=path, valid=other, test=path)


# ------------------------------------------------------------------------------ MovieLens archives

U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n" \
         "244\t51\t2\t880606923\n166\t346\t1\t886397596\n298\t474\t4\t884182806\n"


def make_zip(path: pathlib.Path, members: dict[str, str], stored: bool = False) -> pathlib.Path:
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def ml100k_zip(path: pathlib.Path) -> pathlib.Path:
    return make_zip(path, {"ml-100k/u.data": U_DATA, "ml-100k/README": "tiny copy\n"})


def digests(blob: bytes) -> dict:
    return {"sha256": hashlib.sha256(blob).hexdigest(), "md5": hashlib.md5(blob).hexdigest(),
            "size": len(blob)}


def test_load_movielens_from_a_local_zip_and_folder(tmp_path):
    ml100k_zip(tmp_path / "ml-100k.zip")
    table = load_movielens("ml-100k", data_home=tmp_path)  # read in place, nothing extracted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k.zip"]
    assert len(table) == 6
    assert list(table.columns) == ["user", "item", "rating", "timestamp"]
    assert table.attrs["user_ids"].tolist() == [22, 166, 186, 196, 244, 298]
    assert table.attrs["user_ids"][table["user"]].tolist() == [196, 186, 22, 244, 166, 298]
    assert table.attrs["item_ids"][table["item"]].tolist() == [242, 302, 377, 51, 346, 474]
    folder = fetch_movielens("ml-100k", data_home=tmp_path)  # local zip: no checksum check
    assert folder == tmp_path / "ml-100k"
    assert (folder / "u.data").is_file()
    (tmp_path / "ml-100k.zip").unlink()
    pd.testing.assert_frame_equal(load_movielens("ml-100k", data_home=tmp_path), table)


def test_a_bad_local_zip_leaves_no_partial_folder(tmp_path):
    (tmp_path / "ml-100k.zip").write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(InvlearnError, match=r"ml-100k.zip is not a valid zip"):
        fetch_movielens("ml-100k", data_home=tmp_path)
    with pytest.raises(InvlearnError, match=r"ml-100k.zip is not a valid zip"):
        load_movielens("ml-100k", data_home=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k.zip"]


def test_extraction_failing_midway_leaves_no_partial_folder(tmp_path):
    # u.data extracts first, then the README's bytes fail their CRC check.
    path = make_zip(tmp_path / "ml-100k.zip",
                    {"ml-100k/u.data": U_DATA, "ml-100k/README": "R" * 200}, stored=True)
    blob = bytearray(path.read_bytes())
    blob[blob.index(b"R" * 200) + 100] = ord("X")
    path.write_bytes(bytes(blob))
    with pytest.raises(InvlearnError, match="not a valid zip archive"):
        fetch_movielens("ml-100k", data_home=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k.zip"]


def test_a_zip_without_the_ratings_file_is_rejected(tmp_path):
    make_zip(tmp_path / "ml-100k.zip", {"ml-100k/README": "no ratings\n"})
    with pytest.raises(InvlearnError, match=r"lacks ml-100k/u.data"):
        fetch_movielens("ml-100k", data_home=tmp_path)
    with pytest.raises(InvlearnError, match=r"lacks ml-100k/u.data"):
        load_movielens("ml-100k", data_home=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k.zip"]


# ------------------------------------------------------------------------------ downloads


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict] = {}

    def do_GET(self):
        if self.path not in self.routes:
            self.send_error(404)
            return
        body, announced = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    """A local HTTP server; ``serve(path, body, announced=None)`` adds a route, returns its URL."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    routes: dict = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"

    def serve(path: str, body: bytes, announced: int | None = None) -> str:
        routes[path] = (body, len(body) if announced is None else announced)
        return base + path

    yield serve
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_download_verifies_and_extracts(tmp_path, server):
    blob = ml100k_zip(tmp_path / "src.zip").read_bytes()
    url = server("/ml-100k.zip", blob)
    home = tmp_path / "home"
    folder = fetch_movielens("ml-100k", data_home=home, url=url, expected=digests(blob))
    assert folder == home / "ml-100k"
    assert sorted(p.name for p in home.iterdir()) == ["ml-100k", "ml-100k.zip"]
    assert (home / "ml-100k.zip").read_bytes() == blob
    assert len(load_movielens("ml-100k", data_home=home)) == 6
    (home / "ml-100k.zip").unlink()  # the extracted folder is used as is, no download
    assert fetch_movielens("ml-100k", data_home=home, url=url + ".gone") == folder


def test_download_checksum_mismatch_leaves_nothing(tmp_path, server):
    blob = ml100k_zip(tmp_path / "src.zip").read_bytes()
    corrupted = bytearray(blob)
    corrupted[len(blob) // 2] ^= 0xFF
    url = server("/ml-100k.zip", bytes(corrupted))
    home = tmp_path / "home"
    message = re.escape(f"checksum mismatch for {url}: expected sha256")
    with pytest.raises(InvlearnError, match=message):
        fetch_movielens("ml-100k", data_home=home, url=url, expected=digests(blob))
    assert not home.exists()  # the failed fetch created it, and removed it again
    only_md5 = {"md5": digests(blob)["md5"]}
    with pytest.raises(InvlearnError, match="expected md5"):
        fetch_movielens("ml-100k", data_home=home, url=url, expected=only_md5)
    assert not home.exists()


def test_download_checked_against_official_checksums_by_default(tmp_path, server):
    blob = ml100k_zip(tmp_path / "src.zip").read_bytes()
    url = server("/ml-100k.zip", blob)
    with pytest.raises(InvlearnError, match=f"expected {MOVIELENS['ml-100k']['size']} bytes"):
        fetch_movielens("ml-100k", data_home=tmp_path / "home", url=url)
    assert not (tmp_path / "home").exists()  # created by the fetch, removed on failure
    expected = {"sha256": MOVIELENS["ml-1m"]["sha256"]}  # ml-1m: no size on record
    make_zip(tmp_path / "m.zip", {"ml-1m/ratings.dat": "1::2::3::4\n"})
    url = server("/ml-1m.zip", (tmp_path / "m.zip").read_bytes())
    with pytest.raises(InvlearnError, match=r"checksum mismatch .* expected sha256 a6898adb"):
        fetch_movielens("ml-1m", data_home=tmp_path / "home", url=url, expected=expected)
    with pytest.raises(InvlearnError, match="unknown key"):
        fetch_movielens("ml-1m", data_home=tmp_path / "home", url=url, expected={"sha1": "0"})


def test_truncated_downloads_leave_nothing(tmp_path, server):
    blob = ml100k_zip(tmp_path / "src.zip").read_bytes()
    home = tmp_path / "home"
    url = server("/short.zip", blob[:-40], announced=len(blob))  # the server lies
    with pytest.raises(InvlearnError, match="truncated download"):
        fetch_movielens("ml-100k", data_home=home, url=url, checksum=False)
    assert not home.exists()
    url = server("/cut.zip", blob[:-40])  # honest server, short file
    with pytest.raises(InvlearnError, match=f"truncated download .*expected {len(blob)} bytes"):
        fetch_movielens("ml-100k", data_home=home, url=url, expected=digests(blob))
    assert not home.exists()


def test_download_errors_are_invlearn_errors(tmp_path, server):
    home = tmp_path / "home"
    with pytest.raises(InvlearnError, match=r"could not download .*404"):
        fetch_movielens("ml-100k", data_home=home, url=server("/x", b"") + "missing")
    url = server("/garbage.zip", b"not a zip at all" * 10)
    with pytest.raises(InvlearnError, match=re.escape(f"{url} is not a valid zip")):
        fetch_movielens("ml-100k", data_home=home, url=url, checksum=False)
    assert not home.exists()
    with pytest.raises(InvlearnError, match="ml-1m, ml-100k"):
        fetch_movielens("ml-25m", data_home=home)


# ------------------------------------------------------------------------------ the real data


def _shared_data() -> pathlib.Path | None:
    for candidate in (os.environ.get("INVLEARN_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (pathlib.Path(candidate) / "ml-1m.zip").is_file():
            return pathlib.Path(candidate)
    return None


@pytest.mark.skipif(_shared_data() is None, reason="no MovieLens data (set INVLEARN_DATA)")
def test_real_movielens_and_paper_split():
    home = _shared_data()
    ratings = load_movielens("ml-1m", data_home=home)
    assert len(ratings) == 1_000_209
    assert ratings["user"].nunique() == 6_040 == len(ratings.attrs["user_ids"])
    assert ratings["item"].nunique() == len(ratings.attrs["item_ids"])
    labels = binarize(ratings)["label"]
    assert int(labels.sum()) == 836_478
    assert int((labels == 0).sum()) == 163_731
    if (home / data.PAPER_SPLIT_FOLDER).is_dir():
        split = load_dataset("ml-1m-paper", data_home=home)
        assert [len(split.train), len(split.valid), len(split.test)] == [600_125, 200_042,
                                                                         200_042]
        assert split.n_users == 6_040
        # the union of the paper's files is ML-1M, so both number the ids alike
        assert np.array_equal(split.user_ids, ratings.attrs["user_ids"])


def test_load_dataset_sim_goes_through_the_simulator():
    pytest.importorskip("invlearn.simfeed")
    split = load_dataset("sim", seed=1, size="toy")
    assert isinstance(split, Split)
    assert split.truth is not None


# ------------------------------------------------------------------------------ data home


def test_no_network_names_the_data_home_and_the_archive(tmp_path):
    home = tmp_path / "home"
    closed = "http://127.0.0.1:9/ml-1m.zip"  # the discard port: nothing listens
    with pytest.raises(InvlearnError) as info:
        fetch_movielens("ml-1m", data_home=home, url=closed)
    message = str(info.value)
    assert message.startswith(f"could not download {closed}")
    assert f"place the archive ml-1m.zip in the data home {home}, as {home / 'ml-1m.zip'}" \
        in message
    assert not home.exists()


def test_a_killed_downloads_part_file_is_removed_next_time(tmp_path, server):
    home = tmp_path / "home"
    home.mkdir()
    stale = home / ".ml-100k-999999999-x1y2.zip.part"  # no such process
    stale.write_bytes(b"half an archive")
    old_style = home / ".ml-100k-abc.zip.part"
    old_style.write_bytes(b"half")
    live = home / f".ml-100k-{os.getpid()}-zz.zip.part"  # a download in progress
    live.write_bytes(b"in progress")
    blob = ml100k_zip(tmp_path / "src.zip").read_bytes()
    fetch_movielens("ml-100k", data_home=home, url=server("/ml-100k.zip", blob),
                    expected=digests(blob))
    assert not stale.exists() and not old_style.exists()
    assert live.exists()
    assert sorted(p.name for p in home.iterdir()) == sorted([live.name, "ml-100k",
                                                             "ml-100k.zip"])


def test_a_downloaded_archive_is_readable_by_all(tmp_path, server):
    blob = ml100k_zip(tmp_path / "src.zip").read_bytes()
    home = tmp_path / "home"
    old = os.umask(0o077)
    try:
        fetch_movielens("ml-100k", data_home=home, url=server("/a.zip", blob),
                        expected=digests(blob))
    finally:
        os.umask(old)
    assert (home / "ml-100k.zip").stat().st_mode & 0o777 == 0o644


def test_pair_set_bitmap_and_keys_agree_and_sampling_is_unchanged():
    from invlearn import sampling

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 200), rng.integers(0, 40, 200)
    keys = sampling.pair_keys(users, items, 40)
    dense = sampling.PairSet(users, items, 30, 40)
    limit, sampling.BITMAP_LIMIT = sampling.BITMAP_LIMIT, 10  # force the sorted keys
    try:
        sparse = sampling.PairSet(users, items, 30, 40)
    finally:
        sampling.BITMAP_LIMIT = limit
    assert dense.bitmap is not None and sparse.keys is not None
    qu, qi = rng.integers(0, 30, 500), rng.integers(0, 40, 500)
    truth = sampling.is_pair(keys, qu, qi, 40)
    assert (dense.contains(qu, qi) == truth).all() and (sparse.contains(qu, qi) == truth).all()
    a = sampling.sample_unlabeled(users, 40, keys, 3, np.random.default_rng(1))
    b = sampling.sample_unlabeled(users, 40, dense, 3, np.random.default_rng(1))
    assert (a == b).all() and not sampling.is_pair(keys, np.repeat(users, 3), a.ravel(), 40).any()


@pytest.mark.parametrize("bitmap_limit", [None, 0])  # dense bitmap, then sorted keys
def test_pair_set_on_a_device_answers_as_on_the_host(bitmap_limit):
    import torch

    from invlearn import sampling

    rng = np.random.default_rng(3)
    users, items = rng.integers(0, 30, 200), rng.integers(0, 40, 200)
    host = sampling.PairSet(users, items, 30, 40)
    held = sampling.PairSet(users, items, 30, 40, torch.device("cpu"), bitmap_limit)
    assert isinstance(held.bitmap if bitmap_limit is None else held.keys, torch.Tensor)
    qu, qi = rng.integers(0, 30, 500), rng.integers(0, 40, 500)
    qu[:3], qi[:3] = 29, 39  # past the largest key: still answered, never out of range
    got = held.contains(torch.as_tensor(qu), torch.as_tensor(qi))
    assert isinstance(got, torch.Tensor) and got.any()
    assert np.array_equal(got.numpy(), host.contains(qu, qi))


@given(st.lists(st.integers(-2**62, 2**62), max_size=200)
       | st.lists(st.floats(allow_nan=False), max_size=200))
def test_sorted_unique_is_numpy_unique(values):
    from invlearn.sampling import sorted_unique

    array = np.asarray(values)
    got = sorted_unique(array)
    assert got.dtype == array.dtype
    np.testing.assert_array_equal(got, np.unique(array))


@given(st.lists(st.integers(-50, 50), max_size=60), st.lists(st.integers(-60, 60), max_size=60))
def test_in_sorted_is_numpy_isin(keys, query):
    from invlearn.sampling import in_sorted, sorted_unique

    keys, query = np.asarray(keys, np.int64), np.asarray(query, np.int64)
    np.testing.assert_array_equal(in_sorted(sorted_unique(keys), query), np.isin(query, keys))
