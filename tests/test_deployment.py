"""The deployment in `deploy/`, run here: nginx from Debian in front of two `trainer serve`
processes on PostgreSQL, the way docs/deploy.md installs it on a server.

- nginx runs `deploy/nginx/trainer.conf` itself, with only its paths and ports replaced
  (`render_site`: every replaced string must be in the file, so the file and the test cannot drift
  apart), as an unprivileged process (user `nobody` when the test runs as root), with a
  certificate made here by a certificate authority made here; the client verifies against that CA.
- The app processes are started with the ExecStart of `deploy/systemd/trainer@.service` (the
  venv's `trainer` replaced by this interpreter's `-m trainer.cli`, `%i` by the port) and the
  settings of `deploy/trainer.env.example` (secrets, database and folders replaced), in production
  mode, after `trainer db upgrade`, as the docs say.
- Through the proxy, over HTTPS and HTTP/2-capable TLS: `/healthz`, HSTS (exactly one), static
  files from nginx with a year's Cache-Control for hashed URLs, the request size limit, an
  inspector signing in (the sign-in record and the audit log show the address the client connected
  to nginx from, 127.0.0.2, not nginx's own 127.0.0.1, and never a forged X-Forwarded-For), the
  modules and practice, an exam, a certificate. Mid-exam one app process is killed (SIGKILL):
  every answer acknowledged before and after is stored, the other process serves on, and the
  requests failed during the failover are counted (none are allowed) and timed.

PostgreSQL always: the deployment is PostgreSQL by definition (several processes), so this test
uses TRAINER_TEST_DATABASE_URL when set and otherwise, on the SQLite run of the suite, the CI's
server at postgresql+psycopg://postgres@127.0.0.1:5432/test; it creates a database of its own
there and drops it afterwards. Without nginx or a reachable PostgreSQL it fails (saying what to
install or start) rather than skipping: `make test` and `.ci/run` install nginx.

Figures go to test-artifacts/deployment.json (and stdout with -s).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from tests.conftest import ARTIFACTS, TEST_BADGE_KEY, TEST_SECRET, make_person, right_answer
from trainer.audit.models import AuditEvent
from trainer.config import PROJECT_ROOT, Settings, derive_audit_key
from trainer.db import Database
from trainer.people.models import LoginAttempt
from trainer.quizzes.models import Attempt, AttemptAnswer

DEPLOY = PROJECT_ROOT / "deploy"
SITE = DEPLOY / "nginx" / "trainer.conf"
UNIT = DEPLOY / "systemd" / "trainer@.service"
ENV_EXAMPLE = DEPLOY / "trainer.env.example"
FIXTURE_LIBRARY = Path(__file__).parent / "fixtures" / "library"
CI_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# The client connects from another loopback address than nginx's own 127.0.0.1 (its connections
# to the app), so the app recording the right one of the two is visible.
CLIENT_ADDRESS = "127.0.0.2"
FORGED = "198.51.100.9"


# -- what the deployment needs --------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if not found:
        pytest.fail(
            "nginx is not installed; this test runs the nginx site in deploy/: "
            "`apt-get install -y nginx` (make test and .ci/run install it)"
        )
    return found


def postgres_base() -> str:
    base = os.environ.get("TRAINER_TEST_DATABASE_URL") or CI_POSTGRES
    if not base.startswith("postgresql"):
        base = CI_POSTGRES
    engine = create_engine(base, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as error:  # the message says what to start, whatever the driver raised
        pytest.fail(
            f"the deployment test needs PostgreSQL and cannot reach {base} ({type(error).__name__}); "
            "start it (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) "
            "or set TRAINER_TEST_DATABASE_URL"
        )
    finally:
        engine.dispose()
    return base


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signed for 127.0.0.1 and localhost: (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trainer test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "fullchain.pem", folder / "privkey.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def render_site(site: str, replacements: dict[str, str]) -> str:
    """deploy/'s site file with its server paths and ports replaced by this run's."""
    for old, new in replacements.items():
        assert old in site, f"{SITE.name} no longer contains {old!r}: update tests/test_deployment.py"
        site = site.replace(old, new)
    return site


def main_config(folder: Path, site: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf provides around a site, in this run's folder."""
    return f"""
daemon off;
worker_processes 2;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    server_tokens off;
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;
    include {site};
}}
"""


def environment_file() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def exec_start(port: int) -> list[str]:
    """The unit's ExecStart for one instance, run from this checkout."""
    lines = [line for line in UNIT.read_text(encoding="utf-8").splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1, lines
    words = shlex.split(lines[0].removeprefix("ExecStart="))
    assert words[0] == "/srv/trainer/venv/bin/trainer", words
    return [sys.executable, "-m", "trainer.cli", *(w.replace("%i", str(port)) for w in words[1:])]


# -- the running deployment ----------------------------------------------------------------------


@dataclass
class Deployment:
    folder: Path
    url: str  # https through nginx
    http_url: str  # nginx's plain-HTTP server (redirects)
    ca: Path
    env: dict[str, str]
    database: Database
    ports: list[int]
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def client(self, **options: object) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.ca))
        transport = httpx.HTTPTransport(verify=context, local_address=CLIENT_ADDRESS, retries=0)
        return httpx.Client(base_url=self.url, transport=transport, timeout=20, **options)  # type: ignore[arg-type]

    def direct(self, port: int) -> httpx.Client:
        """Straight to one app process, from CLIENT_ADDRESS (not a trusted proxy)."""
        transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS, retries=0)
        return httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport, timeout=20)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trainer.cli", *args],
            check=False,
            cwd=self.folder / "app",
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start_app(self, port: int) -> None:
        with (self.folder / f"app-{port}.log").open("ab") as log:  # the child keeps its own copy
            self.processes[port] = subprocess.Popen(
                exec_start(port), cwd=self.folder / "app", env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(f"app process on port {port}", lambda: _healthy(f"http://127.0.0.1:{port}/healthz"), self)


def _healthy(url: str, **options: object) -> bool:
    try:
        return httpx.get(url, timeout=2, **options).status_code == 200  # type: ignore[arg-type]
    except httpx.HTTPError:
        return False


def wait_until(what: str, ready: object, deployment: Deployment, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            logs = "\n".join(
                f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
                for path in sorted(deployment.folder.glob("*.log"))
            )
            pytest.fail(f"{what} did not come up within {seconds:.0f} s\n{logs}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    nginx = nginx_binary()
    base = postgres_base()
    name = f"trainer_deploy_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = make_url(base).set(database=name).render_as_string(hide_password=False)
    folder = Path(tempfile.mkdtemp(prefix="trainer-deploy-"))
    folder.chmod(0o755)
    for sub in ("app", "data", "tmp", "acme"):
        (folder / sub).mkdir()
    content = folder / "content"
    shutil.copytree(FIXTURE_LIBRARY, content)
    ca, cert, key = make_certificates(folder)
    https_port, http_port = free_port(), free_port()
    ports = [free_port(), free_port()]

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINER_")}
    settings = environment_file()
    unknown = {k for k in settings if k.removeprefix("TRAINER_").lower() not in Settings.model_fields}
    assert not unknown, f"{ENV_EXAMPLE.name} names settings config.py lacks: {unknown}"
    assert settings["TRAINER_TRUSTED_PROXIES"] == "127.0.0.1"
    settings.update(
        TRAINER_PUBLIC_URL=f"https://127.0.0.1:{https_port}",
        TRAINER_SECRET_KEY=TEST_SECRET,
        TRAINER_BADGE_KEY=TEST_BADGE_KEY,
        TRAINER_DATABASE_URL=database_url,
        TRAINER_DATA_DIR=str(folder / "data"),
        TRAINER_COURSES_DIR=str(content / "courses"),
        TRAINER_QUESTION_BANK_DIR=str(content / "question_bank"),
        TRAINER_STATIC_DIR=str(PROJECT_ROOT / "static"),
        # Two processes x 30 on a server the rest of the suite shares.
        TRAINER_DB_POOL_SIZE="5",
        TRAINER_DB_MAX_OVERFLOW="5",
    )
    env.update(settings, PYTHONPATH=str(PROJECT_ROOT), PYTHONUNBUFFERED="1")
    database = Database(database_url, audit_key=derive_audit_key(TEST_SECRET))
    deployment = Deployment(
        folder,
        f"https://127.0.0.1:{https_port}",
        f"http://127.0.0.1:{http_port}",
        ca,
        env,
        database,
        ports,
    )
    nginx_process = None
    try:
        upgraded = deployment.cli("db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
        for port in ports:
            deployment.start_app(port)

        site = render_site(
            SITE.read_text(encoding="utf-8"),
            {
                "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
                "listen [::]:443 ssl http2;\n": "",
                "listen 80;": f"listen 127.0.0.1:{http_port};",
                "listen [::]:80;\n": "",
                "server 127.0.0.1:8001 ": f"server 127.0.0.1:{ports[0]} ",
                "server 127.0.0.1:8002 ": f"server 127.0.0.1:{ports[1]} ",
                "/etc/letsencrypt/live/training.example.gov.cn/fullchain.pem": str(cert),
                "/etc/letsencrypt/live/training.example.gov.cn/privkey.pem": str(key),
                "/srv/trainer/app/static/": f"{PROJECT_ROOT / 'static'}/",
                "/var/log/nginx/trainer.access.log": str(folder / "access.log"),
                "/var/www/letsencrypt": str(folder / "acme"),
            },
        )
        (folder / "trainer.conf").write_text(site, encoding="utf-8")
        (folder / "nginx.conf").write_text(main_config(folder, folder / "trainer.conf"), encoding="utf-8")
        run_as: dict[str, object] = {}
        if os.geteuid() == 0:  # never nginx as root here: the master process runs as nobody
            nobody = pwd.getpwnam("nobody")
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            run_as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        command = [
            nginx,
            "-p",
            str(folder),
            "-e",
            str(folder / "error.log"),
            "-c",
            str(folder / "nginx.conf"),
        ]
        checked = subprocess.run([*command, "-t"], check=False, capture_output=True, text=True, **run_as)  # type: ignore[call-overload]
        assert checked.returncode == 0, checked.stderr
        with (folder / "nginx.log").open("ab") as log:
            nginx_process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, **run_as)
        wait_until(
            "nginx",
            lambda: _healthy(f"{deployment.url}/healthz", verify=ssl.create_default_context(cafile=str(ca))),
            deployment,
        )
        yield deployment
    finally:
        if nginx_process is not None:
            nginx_process.send_signal(signal.SIGQUIT)
            nginx_process.wait(timeout=20)
        for process in deployment.processes.values():
            process.terminate()
        for process in deployment.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        database.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)


# -- the unit files ----------------------------------------------------------------------------


def test_the_systemd_units_are_valid() -> None:
    """systemd's own check of every unit and timer in deploy/systemd (misplaced or unknown keys,
    bad timer expressions); only the absent /srv/trainer/venv/bin/trainer may be reported."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze (Debian's systemd package) is not installed")
    with tempfile.TemporaryDirectory() as folder:
        for unit in (DEPLOY / "systemd").iterdir():
            shutil.copy(unit, Path(folder) / unit.name)
        shutil.copy(UNIT, Path(folder) / "trainer@8001.service")
        names = [p.name for p in Path(folder).iterdir() if p.name != "trainer@.service"]
        result = subprocess.run(
            [analyze, "verify", "--man=no", *(f"./{n}" for n in sorted(names))],
            check=False,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=60,
        )
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "/srv/trainer/venv/bin/trainer is not executable" not in line
    ]
    assert not complaints, "\n".join(complaints)


# -- the edge: TLS, HTTP/2, HSTS, static files, limits ----------------------------------------


def test_nginx_terminates_tls_serves_static_files_and_limits_requests(deployment: Deployment) -> None:
    # TLS 1.2+ against the test CA, HTTP/2 offered by ALPN.
    context = ssl.create_default_context(cafile=str(deployment.ca))
    context.set_alpn_protocols(["h2", "http/1.1"])
    import socket

    port = int(deployment.url.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")

    with deployment.client() as client:
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        assert health.json()["courses"] == 1
        login = client.get("/login")
        assert login.status_code == 200
        # HSTS exactly once (nginx's; the app's copy is hidden), on app pages and nginx's own.
        assert login.headers.get_list("strict-transport-security") == ["max-age=31536000; includeSubDomains"]
        assert login.headers.get_list("x-content-type-options") == ["nosniff"]
        assert "frame-ancestors 'none'" in login.headers["content-security-policy"]  # the app's own
        missing = client.get("/static/no-such-file.css")
        assert missing.status_code == 404
        assert missing.headers.get_list("strict-transport-security")

        # Static files: the hashed URL the page links to, from nginx (no app headers), cached a year.
        href = re.search(r'href="(/static/trainer\.css\?v=[0-9a-f]+)"', login.text)
        assert href, "the page links no hashed stylesheet"
        css = client.get(href.group(1))
        assert css.status_code == 200
        assert css.content == (PROJECT_ROOT / "static" / "trainer.css").read_bytes()
        assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "content-security-policy" not in css.headers, "the app served it, not nginx"
        assert css.headers.get_list("strict-transport-security")
        assert css.headers["content-type"].startswith("text/css")
        assert client.get("/static/trainer.css").headers["cache-control"] == "no-cache"
        assert client.get("/static/.hidden").status_code == 404
        assert client.get("/static/../pyproject.toml").status_code in (400, 404)

        # Bodies over 1 MB stop at nginx; /metrics is not public.
        big = client.post("/login", content=b"x" * 1_100_000, headers={"content-type": "text/plain"})
        assert big.status_code == 413
        assert client.get("/metrics").status_code == 404

    # Plain HTTP redirects to HTTPS.
    redirect = httpx.get(f"{deployment.http_url}/courses?x=1", follow_redirects=False)
    assert redirect.status_code == 301
    assert redirect.headers["location"].startswith("https://")
    assert redirect.headers["location"].endswith("/courses?x=1")


# -- the client's address: through the trusted proxy only ---------------------------------------


def _form_sign_in(client: httpx.Client, username: str, password: str, **headers: str) -> httpx.Response:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token, page.text[:300]
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        headers=headers,
        follow_redirects=False,
    )


def test_the_client_address_arrives_through_nginx_and_cannot_be_forged(deployment: Deployment) -> None:
    person = make_person(deployment.database, "inspector")
    with deployment.client() as client:
        # Through nginx, with a forged X-Forwarded-For: nginx replaces it with the address it saw.
        wrong = _form_sign_in(client, person.username, "not-the-password", **{"X-Forwarded-For": FORGED})
        assert wrong.status_code in (400, 401), wrong.status_code
        signed_in = _form_sign_in(client, person.username, person.password, **{"X-Forwarded-For": FORGED})
        assert signed_in.status_code == 303, signed_in.text[:300]
        session_cookies = [v for k, v in signed_in.headers.multi_items() if k == "set-cookie"]
        assert session_cookies
        assert all("secure" in c.lower() for c in session_cookies), session_cookies
    # Straight to an app process from an address that is no trusted proxy: the header is ignored.
    with deployment.direct(deployment.ports[0]) as direct:
        forged = direct.post(
            "/api/v1/auth/token",
            json={"username": person.username, "password": "still-not-it"},
            headers={"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"},
        )
        assert forged.status_code == 401
        assert "strict-transport-security" not in forged.headers
    with deployment.database.session() as db:
        attempts = set(db.scalars(select(LoginAttempt.ip).where(LoginAttempt.username == person.username)))
        audited = db.execute(
            select(AuditEvent.action, AuditEvent.ip).where(AuditEvent.actor == person.username)
        ).all()
    assert attempts == {CLIENT_ADDRESS}, attempts
    assert ("login", CLIENT_ADDRESS) in {tuple(row) for row in audited}, audited
    assert all(ip == CLIENT_ADDRESS for _, ip in audited), audited


# -- an exam through the proxy, and a process killed in the middle of it ------------------------


@dataclass
class Load:
    """GETs through nginx on a thread, each timed: what a killed process costs the clients."""

    client: httpx.Client
    results: list[tuple[float, float, int | str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                outcome: int | str = self.client.get("/courses").status_code
            except httpx.HTTPError as error:
                outcome = type(error).__name__
            self.results.append((began, time.monotonic(), outcome))


def _answer(
    client: httpx.Client, headers: dict[str, str], attempt: int, slot: int, body: dict[str, object]
) -> None:
    response = client.put(f"/api/v1/attempts/{attempt}/answers/{slot}", headers=headers, json=body)
    assert response.status_code == 200, response.text


def test_an_exam_through_nginx_survives_a_killed_app_process(deployment: Deployment) -> None:
    database = deployment.database
    person = make_person(database, "inspector", unit="Heilongjiang/Harbin/Daoli District/Bureau")
    started = time.monotonic()
    with deployment.client() as client:
        token = client.post(
            "/api/v1/auth/token", json={"username": person.username, "password": person.password}
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        # The modules read and the practice quiz passed, as the course requires.
        for module in ("demo-first", "demo-second"):
            assert (
                client.get(f"/api/v1/courses/demo-course/modules/{module}", headers=headers).status_code
                == 200
            )
        practice = client.post("/api/v1/modules/demo-first/practice/attempts", headers=headers).json()
        for question in practice["questions"]:
            _answer(
                client,
                headers,
                practice["id"],
                question["slot"],
                right_answer(database, practice["id"], question["slot"]),
            )
        assert (
            client.post(f"/api/v1/attempts/{practice['id']}/submit", headers=headers).json()["passed"] is True
        )

        exam = client.post("/api/v1/courses/demo-course/exam/attempts", headers=headers)
        assert exam.status_code in (200, 201), exam.text
        attempt = exam.json()["id"]
        slots = [q["slot"] for q in exam.json()["questions"]]
        acknowledged: dict[int, dict[str, object]] = {}
        before, after = slots[: len(slots) // 2], slots[len(slots) // 2 :]
        for slot in before:
            acknowledged[slot] = right_answer(database, attempt, slot)
            _answer(client, headers, attempt, slot, acknowledged[slot])

        # Steady reading on another connection; then one app process dies without a word.
        load = Load(deployment.client())
        thread = threading.Thread(target=load.run, daemon=True)
        thread.start()
        time.sleep(1.0)
        victim, survivor = deployment.ports
        killed_at = time.monotonic()
        deployment.processes[victim].send_signal(signal.SIGKILL)
        deployment.processes[victim].wait(timeout=10)
        # The rest of the answers, right after the kill: each acknowledged one must be stored.
        for slot in after:
            acknowledged[slot] = right_answer(database, attempt, slot)
            _answer(client, headers, attempt, slot, acknowledged[slot])
        time.sleep(2.0)
        load.stop.set()
        thread.join(timeout=30)
        load.client.close()

        with database.session() as db:
            rows = db.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt)).all()
        assert {row.slot for row in rows} == set(acknowledged), "an acknowledged answer is missing"

        # The surviving process hands in, grades and certifies.
        submitted = client.post(f"/api/v1/attempts/{attempt}/submit", headers=headers)
        assert submitted.status_code == 200, submitted.text
        assert submitted.json()["passed"] is True
        with database.session() as db:
            assert db.get_one(Attempt, attempt).status == "graded"
        certificates = client.get("/api/v1/me/certificates", headers=headers).json()
        assert len(certificates) == 1
        number = certificates[0]["number"]
        # Anyone can verify it (signed out: a fresh client).
        with deployment.client() as anyone:
            public = anyone.get(f"/verify/{certificates[0]['verification_code']}")
        assert public.status_code == 200
        assert number in public.text, public.text[:300]
        assert _healthy(f"http://127.0.0.1:{survivor}/healthz")
        assert not _healthy(f"http://127.0.0.1:{victim}/healthz")
    exam_seconds = time.monotonic() - started

    after_kill = [r for r in load.results if r[0] >= killed_at]
    failed = [r for r in load.results if r[2] != 200]
    # One request can be caught mid-answer: the killed process had written the response's head
    # (uvicorn writes it apart from the body) and died before the body. nginx has passed the head
    # on by then, so it cannot send the request elsewhere and closes the connection (a crash can
    # cut off what a process is writing; a stop, SIGTERM, lets it finish). Only a request in
    # flight at the kill may fail that way, and nginx's log must say it was.
    error_log = (deployment.folder / "error.log").read_text(encoding="utf-8")
    cut_off = error_log.count("upstream prematurely closed connection while reading upstream")
    in_flight = [r for r in failed if r[0] < killed_at < r[1]]
    first_ok = min((end for began, end, outcome in after_kill if outcome == 200), default=None)
    slowest = max((end - began for began, end, _ in after_kill), default=0.0)
    access_log = (deployment.folder / "access.log").read_text(encoding="utf-8")
    failovers = [
        line for line in access_log.splitlines() if f"127.0.0.1:{victim}, 127.0.0.1:{survivor}" in line
    ]
    figures = {
        "requests_through_proxy_during_load": len(load.results),
        "requests_after_kill": len(after_kill),
        "failed_requests": len(failed),
        "failed_outcomes": sorted({str(r[2]) for r in failed}),
        "responses_cut_off_mid_answer": cut_off,
        "seconds_from_kill_to_first_served_request": round(first_ok - killed_at, 3) if first_ok else None,
        "slowest_request_after_kill_seconds": round(slowest, 3),
        "requests_nginx_retried_on_the_survivor": len(failovers),
        "answers_acknowledged": len(acknowledged),
        "answers_acknowledged_after_kill": len(after),
        "answers_found": len(rows),
        "exam_journey_seconds": round(exam_seconds, 2),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "deployment.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print("deployment figures:", json.dumps(figures))
    assert after_kill, "no request went through nginx after the kill"
    assert failed == in_flight, f"requests failed that were not in flight at the kill: {figures}"
    assert len(failed) <= cut_off, f"a failed request nginx did not see cut off mid-answer: {figures}"
    assert failovers, "nginx's log shows no request passed on from the killed process"

    # The audit chain written by two processes holds.
    verified = deployment.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
