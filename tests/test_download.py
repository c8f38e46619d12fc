"""Data that appears on first use, against a loopback HTTP server (no internet here): a fresh
download verified and renamed into place; a wrong checksum, a connection dropped mid-file and a
server that is down each end in one message, quickly, with nothing left behind."""

import gzip
import hashlib
import http.server
import io
import json
import os
import pathlib
import socket
import tarfile
import threading
import time

import pytest

from jaxnets.data import DataError, download

SHARED = pathlib.Path(os.environ.get("JAXNETS_DATA_DIR", "/nonexistent"))


class Mirror:
    """An HTTP server on 127.0.0.1 serving `files` ({'<name>/<file>': bytes}); `drop` names files
    whose connection closes after half the announced bytes."""

    def __init__(self, files: dict[str, bytes], drop: tuple[str, ...] = ()):
        self.files, self.drop, self.requests = files, drop, []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (http.server's name)
                key = self.path.lstrip("/")
                mirror.requests.append(key)
                body = mirror.files.get(key)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if key in mirror.drop else body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _shared_files(name: str) -> dict[str, bytes]:
    """What the publisher serves, rebuilt from the offline copy: the files themselves, or for a
    set published inside an archive (WordNet) that archive with the files at their places."""
    folder = SHARED / name
    remotes = download.SOURCES[name]
    if not all((folder / r.file).is_file() for r in remotes):
        pytest.skip(f"no offline copy of {name} under $JAXNETS_DATA_DIR")
    if not remotes[0].member:
        return {f"{name}/{r.file}": (folder / r.file).read_bytes() for r in remotes}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for remote in remotes:
            data = _content(folder / remote.file)
            info = tarfile.TarInfo(remote.member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return {f"{name}/{remotes[0].urls[0].rsplit('/', 1)[1]}": archive.getvalue()}


def _content(path: pathlib.Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty JAXNETS_DATA_DIR with downloading on; yields a function that starts a mirror."""
    monkeypatch.setenv("JAXNETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(download.NO_DOWNLOAD_ENV, raising=False)
    mirrors = []

    def serve(files, drop=()):
        mirror = Mirror(files, drop)
        mirrors.append(mirror)
        monkeypatch.setenv(download.MIRROR_ENV, mirror.url)
        return mirror

    yield serve
    for mirror in mirrors:
        mirror.close()


def _leftovers(tmp_path) -> list[str]:
    root = tmp_path / "data"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_every_offline_copy_has_an_accepted_checksum():
    """The table's digests include the shared copies' (so a mirror of them verifies)."""
    checked = 0
    for name, remotes in download.SOURCES.items():
        for remote in remotes:
            path = SHARED / name / remote.file
            if path.is_file():  # an archive member's digest is its content's, before gzip here
                data = _content(path) if remote.member else path.read_bytes()
                assert hashlib.sha256(data).hexdigest() in remote.sha256, path
                checked += 1
    if not checked:
        pytest.skip("no offline copies under $JAXNETS_DATA_DIR")


def test_fresh_download_is_verified_and_read(fresh, tmp_path, capsys):
    from jaxnets.data.text import word_corpus

    files = _shared_files("ptb")
    mirror = fresh(files)
    corpus = word_corpus("ptb")
    assert [len(corpus.splits[s]) for s in ("train", "valid", "test")] == [929_589, 73_760, 82_430]
    assert sorted(mirror.requests) == sorted(files)
    for key, body in files.items():
        assert (tmp_path / "data" / key).read_bytes() == body
    assert _leftovers(tmp_path) == ["ptb", "ptb/ptb.test.txt", "ptb/ptb.train.txt", "ptb/ptb.valid.txt"]
    err = capsys.readouterr().err
    assert f"downloading {mirror.url}/ptb/ptb.train.txt (5.1 MB)" in err and "3 file(s) verified" in err
    word_corpus("ptb")  # a second read finds the folder and asks nothing
    assert len(mirror.requests) == 3


def test_a_wrong_checksum_leaves_nothing(fresh, tmp_path):
    files = {"tinyshakespeare/input.txt": b"First Citizen:\nBefore we proceed any further, hear me speak.\n"}
    fresh(files)
    from jaxnets.data.text import read_text

    with pytest.raises(DataError) as err:
        read_text("tinyshakespeare")
    message = str(err.value)
    assert "could not download input.txt; nothing was written" in message
    assert hashlib.sha256(files["tinyshakespeare/input.txt"]).hexdigest() in message
    assert "86c4e6aa9db7c042" in message  # the published digest it expected
    assert _leftovers(tmp_path) == []


def test_a_connection_dropped_mid_file_leaves_nothing(fresh, tmp_path):
    files = _shared_files("ptb")
    fresh(files, drop=("ptb/ptb.valid.txt",))  # train arrives whole first, then valid breaks
    from jaxnets.data.text import word_corpus

    with pytest.raises(DataError, match=r"ptb\.valid\.txt: the connection closed after 199,891 of 399,782 bytes"):
        word_corpus("ptb")
    assert _leftovers(tmp_path) == []  # not even the verified ptb.train.txt: the folder appears whole or not


def _loaders():
    from jaxnets.data import load_images
    from jaxnets.data.sentences import sentence_set
    from jaxnets.data.text import read_text, word_corpus

    return {"mnist": lambda: load_images("mnist", "test"), "fashion_mnist": lambda: load_images("fashion_mnist", "test"),
            "ptb": lambda: word_corpus("ptb"), "tinyshakespeare": lambda: read_text("tinyshakespeare"),
            "wordnet": lambda: sentence_set("wordnet")}


def test_every_downloadable_set_has_a_loader_here():
    assert set(_loaders()) == set(download.SOURCES)


@pytest.mark.parametrize("name", sorted(download.SOURCES))
def test_a_server_that_is_down_fails_at_once_with_the_url(name, fresh, tmp_path, monkeypatch, capsys):
    """Every data set, offline: one attempt per file, a message with the URL and what to do,
    nothing written, no tensorflow-datasets detour (Tiny Shakespeare used to retry for 208 s)."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(download.MIRROR_ENV, f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(DataError) as err:
        _loaders()[name]()
    assert time.monotonic() - started < 5.0
    message = str(err.value)
    first = download.urls_of(name, download.SOURCES[name][0])[0]
    assert f"{first}: cannot connect" in message and first.startswith(f"http://127.0.0.1:{port}/{name}/")
    assert "JAXNETS_DATA_DIR" in message and "JAXNETS_NO_DOWNLOAD=1" in message
    assert _leftovers(tmp_path) == [] and "tensorflow" not in capsys.readouterr().err.lower()


def test_a_set_published_as_an_archive_is_unpacked_and_verified(fresh, tmp_path, capsys):
    """WordNet comes as one tarball: downloaded once, its members checked against their digests
    and kept gzipped as in the offline copy, the archive itself not kept; the glosses read."""
    from jaxnets.data.sentences import read_wordnet

    files = _shared_files("wordnet")
    mirror = fresh(files)
    folder = download.ensure("wordnet")
    assert mirror.requests == list(files)
    assert _leftovers(tmp_path) == ["wordnet", *sorted(f"wordnet/{r.file}" for r in download.SOURCES["wordnet"])]
    for remote in download.SOURCES["wordnet"]:
        assert _content(folder / remote.file) == _content(SHARED / "wordnet" / remote.file)
    assert len(read_wordnet(folder)) == 117_659
    assert "5 file(s) verified" in capsys.readouterr().err


def test_a_changed_archive_member_leaves_nothing(fresh, tmp_path):
    name = next(iter(_shared_files("wordnet")))
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:  # lexnames and data.noun only, one altered
        for remote in download.SOURCES["wordnet"][:1] + download.SOURCES["wordnet"][-1:]:
            data = _content(SHARED / "wordnet" / remote.file)
            data = data.replace(b"entity", b"entiti", 1) if remote.file == "data.noun.gz" else data
            info = tarfile.TarInfo(remote.member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    fresh({name: archive.getvalue()})
    with pytest.raises(DataError, match=r"WordNet-3.0/dict/data.noun in http://127.0.0.1:\d+/wordnet/WordNet-3.0"
                                        r"\.tar\.gz has SHA-256 [0-9a-f]{64}, not the published file's"):
        download.ensure("wordnet")
    assert _leftovers(tmp_path) == []


def test_missing_file_on_the_server_is_named(fresh, tmp_path):
    fresh({})
    from jaxnets.data.text import read_text

    with pytest.raises(DataError, match=r"tinyshakespeare/input\.txt: HTTP 404"):
        read_text("tinyshakespeare")
    assert _leftovers(tmp_path) == []


def test_downloading_can_be_turned_off(fresh, tmp_path, monkeypatch):
    mirror = fresh(_shared_files("tinyshakespeare"))
    monkeypatch.setenv(download.NO_DOWNLOAD_ENV, "1")
    from jaxnets.data.text import read_text

    with pytest.raises(DataError, match=r"does not exist and downloading is off \(JAXNETS_NO_DOWNLOAD=1\)"):
        read_text("tinyshakespeare")
    assert mirror.requests == [] and _leftovers(tmp_path) == []


def test_an_existing_folder_is_never_completed_from_the_network(fresh, tmp_path):
    """A folder with a file missing is the user's folder: an error naming the file, no download."""
    mirror = fresh(_shared_files("ptb"))
    (tmp_path / "data" / "ptb").mkdir(parents=True)
    (tmp_path / "data" / "ptb" / "ptb.train.txt").write_text("a b\n")
    from jaxnets.data.text import word_corpus

    with pytest.raises(DataError, match=r"ptb\.valid\.txt is missing \(the folder exists\)"):
        word_corpus("ptb")
    assert mirror.requests == []


def test_command_one_on_a_machine_without_data(fresh, tmp_path):
    """The README's first command (shortened to 600 steps of 100) with no data folder and a
    loopback mirror: MNIST appears, verified, and the run learns it (> 90% test accuracy)."""
    from jaxnets.__main__ import main
    from jaxnets.data.images import _read_local_cached

    fresh(_shared_files("mnist"))
    _read_local_cached.cache_clear()
    workdir = tmp_path / "run"
    assert main(["train", "--config", "configs/mnist_mlp.py", "--config.train.steps=600",
                 "--config.train.batch_size=100", "--workdir", str(workdir)]) == 0
    assert (tmp_path / "data" / "mnist" / "train-images-idx3-ubyte.gz").is_file()
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["steps"] == 600 and summary["metrics"]["test_accuracy"] > 0.90, summary["metrics"]
    _read_local_cached.cache_clear()


def test_command_one_with_a_corrupted_mirror_file(fresh, tmp_path, capsys):
    """The same command when one served file is damaged (a byte flipped): one line naming the
    file, its digest and the expected one, exit 2, no data folder and no run folder left."""
    from jaxnets.__main__ import main
    from jaxnets.data.images import _read_local_cached

    files = _shared_files("mnist")
    key = "mnist/t10k-labels-idx1-ubyte.gz"
    files[key] = files[key][:100] + bytes([files[key][100] ^ 0xFF]) + files[key][101:]
    fresh(files)
    _read_local_cached.cache_clear()
    workdir = tmp_path / "run"
    assert main(["train", "--config", "configs/mnist_mlp.py", "--config.train.steps=600",
                 "--workdir", str(workdir)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "could not download t10k-labels-idx1-ubyte.gz; nothing was written" in err[0], err
    assert hashlib.sha256(files[key]).hexdigest() in err[0] and "f7ae60f92e00ec6d" in err[0]
    assert _leftovers(tmp_path) == [] and not workdir.exists()
