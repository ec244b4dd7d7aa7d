"""The packaging for one server (docs/deploy.md) holds together with the tools that will read it:

- deploy/compose/docker-compose.yml: Debian 12's docker-compose 1.29 accepts it with the env file
  `plaza secrets --for serve` writes plus the operator's lines, and every ${…} resolves to what it should;
- deploy/systemd/plaza.service: `systemd-analyze verify` finds nothing to say, the hardening keeps its exposure
  score, and `plaza serve` knows every flag of its ExecStart;
- deploy/coturn/turnserver.conf: coturn 4.6 starts with it (ports moved to free loopback ones, Plaza's
  certificate path replaced by a throwaway certificate), logs no configuration error, relays for a credential made
  the way Plaza makes them and refuses one made with another secret, and reloads a renewed certificate on
  SIGUSR2;
- deploy/janus/: Debian's Janus starts with its four files (ports moved to free loopback ones, the certificate
  path replaced, the secrets the operator sets filled in), with stored tokens, the VideoRoom plugin only, the
  Admin API on loopback, the browsers' WebSocket over TLS with the certificate given, and `plaza serve` drives
  it: a conference's room is created with the admin key.

No Docker daemon, no systemd as PID 1 and no root are needed; docker-compose, systemd-analyze, turnserver,
turnutils_uclient and openssl are (Debian packages docker-compose, systemd, coturn, openssl).
"""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from plaza_processes import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose" / "docker-compose.yml"
DOCKERFILE = DEPLOY / "compose" / "Dockerfile"
UNIT = DEPLOY / "systemd" / "plaza.service"
TURN_CONF = DEPLOY / "coturn" / "turnserver.conf"
JANUS_DIR = DEPLOY / "janus"

DOMAIN = "party.example.com"
OPERATOR_LINES = {
    "PLAZA_DOMAIN": DOMAIN,
    "PLAZA_TLS_ACME_EMAIL": "host@example.com",
    "PLAZA_TURN_URLS": f"turn:{DOMAIN}:3478?transport=udp,turns:{DOMAIN}:5349?transport=tcp",
}
SECRET_KEYS = ["PLAZA_AUTH_SECRET", "PLAZA_AUTH_ADMIN_TOKEN", "PLAZA_TURN_SECRET"]


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines (comments and blank lines skipped), as compose reads them."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, separator, value = line.partition("=")
        assert separator, f"{path.name}: not KEY=value: {line!r}"
        values[key] = value
    return values


def load_yaml(text: str):
    """YAML → Python: PyYAML if this interpreter has it, else Debian's python3, which docker-compose needs."""
    try:
        import yaml
    except ImportError:
        converted = subprocess.run(
            ["/usr/bin/python3", "-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
            input=text, capture_output=True, text=True, check=True)
        return json.loads(converted.stdout)
    return yaml.safe_load(text)


def conf_value(name: str) -> str:
    """The value of the one active `name=` line of turnserver.conf."""
    values = [line.split("=", 1)[1] for line in TURN_CONF.read_text().splitlines() if line.startswith(name + "=")]
    assert len(values) == 1, f"turnserver.conf: {len(values)} active {name}= lines"
    return values[0]


# --------------------------------------------------------------------------------------------------------------
# (a) docker-compose.yml


@pytest.fixture
def compose_project(tmp_path, binary):
    """A copy of deploy/ under a throwaway repository root, with plaza.env from `plaza secrets --for serve`, the
    operator's lines added and `.env` linked to it, as docs/deploy.md does. Returns (compose dir, env values)."""
    project = tmp_path / "deploy" / "compose"
    project.mkdir(parents=True)
    (tmp_path / "deploy" / "coturn").mkdir()
    shutil.copy(COMPOSE_FILE, project / "docker-compose.yml")
    shutil.copy(DOCKERFILE, project / "Dockerfile")
    shutil.copy(TURN_CONF, tmp_path / "deploy" / "coturn" / "turnserver.conf")

    result = subprocess.run([binary, "secrets", "--out", str(project), "--for", "serve"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"plaza secrets failed ({result.returncode}):\n{result.stdout}{result.stderr}"
    env_file, config_file = project / "plaza.env", project / "plaza.json"
    assert env_file.is_file() and config_file.is_file(), "plaza secrets --for serve must write plaza.env and plaza.json"
    secrets = read_env_file(env_file)
    for key in SECRET_KEYS:
        assert secrets.get(key), f"plaza.env has no {key}"
    assert not {"POSTGRES_PASSWORD", "PLAZA_STORE"} & secrets.keys(), "--for serve writes no fleet secrets"
    configuration = json.loads(config_file.read_text())
    assert isinstance(configuration, dict)
    for key in SECRET_KEYS:
        assert secrets[key] in config_file.read_text(), f"plaza.json and plaza.env disagree on {key}"

    with env_file.open("a") as handle:
        handle.writelines(f"{key}={value}\n" for key, value in OPERATOR_LINES.items())
    (project / ".env").symlink_to("plaza.env")
    return project, {**secrets, **OPERATOR_LINES}


def compose_config(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["docker-compose", "config"], cwd=project, capture_output=True, text=True, timeout=60)


def test_compose_file_resolves_with_the_secrets_env_file(compose_project):
    project, env = compose_project
    result = compose_config(project)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    assert "WARNING" not in result.stderr and "not set" not in result.stderr, result.stderr
    output = result.stdout
    assert "${" not in output, "an unresolved ${…} is left in the resolved configuration"
    config = load_yaml(output)
    services = config["services"]
    assert set(services) == {"plaza", "coturn"}

    plaza = services["plaza"]
    assert Path(plaza["build"]["context"]).resolve() == project.parent.parent.resolve()
    assert plaza["build"]["dockerfile"] == "deploy/compose/Dockerfile"
    assert plaza["command"] == ["serve", "--domain", DOMAIN]
    # env_file: every line of plaza.env, exactly, in the container's environment.
    assert plaza["environment"] == env
    published = {(str(port["published"]), str(port["target"])) for port in plaza["ports"]}
    assert published == {("80", "80"), ("443", "443")}
    assert "plaza-data:/var/lib/plaza:rw" in plaza["volumes"]
    assert plaza["restart"] == "unless-stopped"

    coturn = services["coturn"]
    assert coturn["network_mode"] == "host"
    # Only the domain and the TURN secret reach coturn, substituted from .env; no other secret.
    assert coturn["environment"]["PLAZA_DOMAIN"] == DOMAIN
    assert coturn["environment"]["TURN_SECRET"] == env["PLAZA_TURN_SECRET"]
    coturn_values = json.dumps(coturn)
    for key in ("PLAZA_AUTH_SECRET", "PLAZA_AUTH_ADMIN_TOKEN"):
        assert env[key] not in coturn_values, f"{key} reaches the coturn container"
    # The relay range defaults to turnserver.conf's.
    assert coturn["environment"]["TURN_MIN_PORT"] == conf_value("min-port")
    assert coturn["environment"]["TURN_MAX_PORT"] == conf_value("max-port")
    # coturn reads Plaza's certificate (mode 0600) as the plaza image's user, from the shared volume.
    uid = re.search(r"useradd [^\n]*--uid (\d+)", DOCKERFILE.read_text()).group(1)
    gid = re.search(r"groupadd [^\n]*--gid (\d+)", DOCKERFILE.read_text()).group(1)
    assert coturn["user"] == f"{uid}:{gid}"
    assert "plaza-data:/var/lib/plaza:ro" in coturn["volumes"]
    conf_mount = next(volume for volume in coturn["volumes"] if volume.endswith(":/etc/coturn/turnserver.conf:ro"))
    assert Path(conf_mount.split(":")[0]).resolve() == (project.parent / "coturn" / "turnserver.conf").resolve()
    assert conf_value("cert") == f"/var/lib/plaza/tls/{DOMAIN}/certificate.pem"
    assert conf_value("pkey") == f"/var/lib/plaza/tls/{DOMAIN}/key.pem"
    # The entrypoint is a shell script once compose's $$ are $: it must parse.
    script = coturn["entrypoint"][2].replace("$$", "$")
    syntax = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_compose_file_refuses_to_run_without_the_domain(compose_project):
    project, _ = compose_project
    (project / ".env").unlink()
    result = compose_config(project)
    assert result.returncode != 0
    assert "PLAZA_DOMAIN" in result.stderr


# --------------------------------------------------------------------------------------------------------------
# (b) plaza.service


@pytest.fixture
def unit_copy(tmp_path, binary) -> Path:
    """plaza.service with ExecStart's /usr/local/bin/plaza replaced by the binary under test (verify needs it)."""
    text = UNIT.read_text()
    assert re.search(r"^ExecStart=/usr/local/bin/plaza serve ", text, re.MULTILINE)
    copy = tmp_path / "plaza.service"
    copy.write_text(text.replace("/usr/local/bin/plaza", binary))
    return copy


def test_unit_verifies_cleanly(unit_copy):
    result = subprocess.run(["systemd-analyze", "verify", str(unit_copy)], capture_output=True, text=True, timeout=60)
    output = (result.stdout + result.stderr).splitlines()
    about_unit = [line for line in output if "plaza.service" in line or str(unit_copy.parent) in line]
    assert result.returncode == 0 and not about_unit, "\n".join(output)


def test_unit_hardening_keeps_its_exposure(unit_copy):
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit_copy)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for plaza\.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout


def test_unit_exec_start_flags_exist(binary):
    exec_start = re.search(r"^ExecStart=(.*)$", UNIT.read_text(), re.MULTILINE).group(1).split()
    flags = [word for word in exec_start if word.startswith("--")]
    assert flags, exec_start
    usage = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=30)
    help_text = usage.stdout + usage.stderr
    for flag in flags:
        assert re.search(rf"(^|\s){re.escape(flag)}\b", help_text), f"plaza serve has no {flag}"


# --------------------------------------------------------------------------------------------------------------
# (c) turnserver.conf


def make_certificate(directory: Path, name: str):
    """A self-signed certificate and key as Plaza writes them: certificate.pem and key.pem, mode 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    for file in ("certificate.new", "key.new"):
        (directory / file).unlink(missing_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", f"/CN={name}", "-keyout", str(directory / "key.new"),
         "-out", str(directory / "certificate.new")],
        check=True, capture_output=True)
    for new, final in (("key.new", "key.pem"), ("certificate.new", "certificate.pem")):
        os.chmod(directory / new, 0o600)
        os.replace(directory / new, directory / final)
    return ssl.PEM_cert_to_DER_cert((directory / "certificate.pem").read_text())


def served_certificate(port: int) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=DOMAIN) as tls:
            return tls.getpeercert(binary_form=True)


def credential(secret: str, lifetime: int = 3600) -> tuple[str, str]:
    """A TURN credential the way Plaza issues them: `<unix expiry>:<id>` and base64(HMAC-SHA1(secret, username))."""
    username = f"{int(time.time()) + lifetime}:deploy-test"
    password = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, password


def test_shipped_config_holds_no_usable_secret():
    """The secret is the operator's to add: an active placeholder would be a secret anyone can read."""
    text = TURN_CONF.read_text()
    assert not re.search(r"^static-auth-secret=", text, re.MULTILINE)
    assert re.search(r"^#static-auth-secret=", text, re.MULTILINE)
    assert re.search(r"^use-auth-secret$", text, re.MULTILINE)
    assert conf_value("realm") == DOMAIN


@pytest.fixture
def coturn(tmp_path):
    """turnserver with deploy/coturn/turnserver.conf, on free loopback ports, with a throwaway certificate in
    place of Plaza's, its database and pid file in tmp_path. Stopped by its pid at the end."""
    secret = "deploy-test-" + os.urandom(12).hex()
    certificate_dir = tmp_path / "tls" / DOMAIN
    der = make_certificate(certificate_dir, DOMAIN)
    port, tls_port = free_port(udp=True), free_port()
    relay_start = 40000 + int.from_bytes(os.urandom(2), "big") % 20000
    log_path = tmp_path / "turnserver.log"
    log = open(log_path, "wb")
    process = subprocess.Popen(
        ["turnserver", "-c", str(TURN_CONF),
         "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
         "--listening-port", str(port), "--tls-listening-port", str(tls_port),
         "--min-port", str(relay_start), "--max-port", str(relay_start + 15),
         "--cert", str(certificate_dir / "certificate.pem"), "--pkey", str(certificate_dir / "key.pem"),
         "--static-auth-secret", secret,
         "--pidfile", str(tmp_path / "turnserver.pid"), "--userdb", str(tmp_path / "turndb"),
         # Loopback relaying, for the relay check only: the shipped file denies it.
         "--allow-loopback-peers", "--allowed-peer-ip", "127.0.0.1"],
        stdout=log, stderr=subprocess.STDOUT)
    server = {"process": process, "port": port, "tls_port": tls_port, "secret": secret, "der": der,
              "certificate_dir": certificate_dir, "log": log_path}
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, f"turnserver exited with {process.returncode}:\n{log_path.read_text()}"
            try:
                with socket.create_connection(("127.0.0.1", tls_port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"turnserver did not listen within 20 s:\n{log_path.read_text()}"
                time.sleep(0.2)
        server["startup_log"] = log_path.read_text(errors="replace")
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


# What coturn prints about a configuration it does not accept (an unknown option, a malformed address, a missing
# file), and the one warning the test's own loopback overrides cause.
CONFIG_PROBLEMS = re.compile(r"Bad configuration format|Wrong address format|CONFIG ERROR|ERROR|WARNING|cannot",
                             re.IGNORECASE)
EXPECTED = re.compile(r"allow_loopback_peers opens a possible security vulnerability")


def test_coturn_starts_with_the_config(coturn):
    log = coturn["startup_log"]
    problems = [line for line in log.splitlines() if CONFIG_PROBLEMS.search(line) and not EXPECTED.search(line)]
    assert not problems, "\n".join(problems)
    assert f"Default realm: {DOMAIN}" in log
    assert "Certificate file found" in log and "Private key file found" in log
    for denied in ("10.0.0.0-10.255.255.255", "169.254.0.0-169.254.255.255", "fc00::-fdff"):
        assert denied in log, f"coturn did not take denied-peer-ip {denied}"
    assert served_certificate(coturn["tls_port"]) == coturn["der"]


def uclient(port: int, username: str, password: str) -> str:
    result = subprocess.run(
        ["turnutils_uclient", "-y", "-n", "5", "-p", str(port), "-u", username, "-w", password, "127.0.0.1"],
        capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr


def test_coturn_relays_for_plaza_credentials_only(coturn):
    accepted = uclient(coturn["port"], *credential(coturn["secret"]))
    assert "Total lost packets 0 " in accepted, accepted[-2000:]
    refused = uclient(coturn["port"], *credential("another-secret-entirely"))
    assert "Cannot complete Allocation" in refused, refused[-2000:]
    expired = uclient(coturn["port"], *credential(coturn["secret"], lifetime=-60))
    assert "Cannot complete Allocation" in expired, expired[-2000:]


def test_coturn_reloads_a_renewed_certificate_on_sigusr2(coturn):
    renewed = make_certificate(coturn["certificate_dir"], DOMAIN)
    assert renewed != coturn["der"]
    coturn["process"].send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 10
    while served_certificate(coturn["tls_port"]) != renewed:
        assert time.monotonic() < deadline, "coturn still serves the old certificate after SIGUSR2"
        time.sleep(0.2)
    assert coturn["process"].poll() is None
    assert "Reloading TLS certificates and keys" in coturn["log"].read_text(errors="replace")


# MARK: Janus


def janus_settings(text: str, replacements: dict[str, str]) -> str:
    """`text` with each `key = …` line (commented or not) of `replacements` set to its value."""
    for key, value in replacements.items():
        text, count = re.subn(rf"^(\s*)#?{re.escape(key)} = [^\n]*", rf"\g<1>{key} = {value}", text, flags=re.MULTILINE)
        assert count == 1, f"{key} is not in the shipped file exactly once"
    return text


def test_shipped_janus_files_hold_no_usable_secret():
    general = (JANUS_DIR / "janus.jcfg").read_text()
    assert re.search(r"^\s*#admin_secret = ", general, re.MULTILINE) and not re.search(r"^\s*admin_secret", general, re.MULTILINE)
    assert re.search(r"^\s*token_auth = true", general, re.MULTILINE)
    videoroom = (JANUS_DIR / "janus.plugin.videoroom.jcfg").read_text()
    assert re.search(r"^\s*#admin_key = ", videoroom, re.MULTILINE) and not re.search(r"^\s*admin_key", videoroom, re.MULTILINE)


@pytest.fixture
def janus_deployed(tmp_path):
    """Janus with deploy/janus's files: the paths Debian's package uses for its modules, free loopback ports, a
    throwaway certificate in place of Plaza's, and secrets filled in as the operator does."""
    library = next(Path("/usr/lib").glob("*/janus/plugins")).parent
    certificate_dir = tmp_path / "tls" / DOMAIN
    der = make_certificate(certificate_dir, DOMAIN)
    admin_secret, admin_key = "deploy-admin-" + os.urandom(8).hex(), "deploy-key-" + os.urandom(8).hex()
    wss_port, admin_port, api_port = free_port(), free_port(), free_port()
    folder = tmp_path / "janus"
    folder.mkdir()
    files = {
        "janus.jcfg": {"configs_folder": f'"{folder}"', "admin_secret": f'"{admin_secret}"',
                       **{f"{kind}_folder": f'"{library / kind}"' for kind in ("plugins", "transports", "events", "loggers")}},
        "janus.transport.websockets.jcfg": {"wss_port": str(wss_port), "cert_pem": f'"{certificate_dir / "certificate.pem"}"',
                                            "cert_key": f'"{certificate_dir / "key.pem"}"'},
        "janus.transport.http.jcfg": {"admin_port": str(admin_port), "port": str(api_port)},
        "janus.plugin.videoroom.jcfg": {"admin_key": f'"{admin_key}"'},
    }
    for name, replacements in files.items():
        (folder / name).write_text(janus_settings((JANUS_DIR / name).read_text(), replacements))
    log_path = tmp_path / "janus.log"
    log = open(log_path, "wb")
    process = subprocess.Popen(["janus", "--config", str(folder / "janus.jcfg"), "--configs-folder", str(folder),
                                "--disable-colors"], stdout=log, stderr=subprocess.STDOUT)
    admin_url = f"http://127.0.0.1:{admin_port}/admin"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, f"janus exited with {process.returncode}:\n{log_path.read_text()}"
            try:
                with socket.create_connection(("127.0.0.1", wss_port), timeout=1), \
                        socket.create_connection(("127.0.0.1", admin_port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"janus did not listen within 20 s:\n{log_path.read_text()}"
                time.sleep(0.2)
        yield {"admin_url": admin_url, "admin_secret": admin_secret, "admin_key": admin_key, "wss_port": wss_port,
               "api_url": f"http://127.0.0.1:{api_port}/janus", "der": der, "log": log_path}
    finally:
        process.kill()  # Janus ignores SIGTERM in a child of a process that blocks it; nothing to keep here
        process.wait()
        log.close()


def janus_admin(janus, body: dict) -> dict:
    request = urllib.request.Request(
        janus["admin_url"], data=json.dumps({**body, "transaction": os.urandom(6).hex(), "admin_secret": janus["admin_secret"]}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def test_janus_starts_with_the_shipped_files(janus_deployed):
    info = janus_admin(janus_deployed, {"janus": "info"})
    assert info["auth_token"] is True, "stored tokens"
    assert info["session-timeout"] == 30
    assert list(info["plugins"]) == ["janus.plugin.videoroom"]
    assert sorted(info["transports"]) == ["janus.transport.http", "janus.transport.websockets"]
    assert served_certificate(janus_deployed["wss_port"]) == janus_deployed["der"], "wss with the certificate given"
    # The plain API on loopback, where the agent checks its health; without a token it opens nothing.
    with urllib.request.urlopen(janus_deployed["api_url"] + "/info", timeout=5) as response:
        assert json.load(response)["janus"] == "server_info"
    request = urllib.request.Request(janus_deployed["api_url"], data=json.dumps({"janus": "create", "transaction": "t"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.load(response)["error"]["code"] == 403
    refused = janus_admin({**janus_deployed, "admin_secret": "wrong"}, {"janus": "list_sessions"})
    assert refused["janus"] == "error"
    # Rooms need the admin key: a VideoRoom create without it is refused.
    without_key = janus_admin(janus_deployed, {"janus": "message_plugin", "plugin": "janus.plugin.videoroom",
                                               "request": {"request": "create", "room": 4242}})
    assert without_key["response"].get("error_code") in (429, 433), without_key


def test_plaza_serve_drives_the_deployed_janus(janus_deployed, binary, tmp_path):
    """`plaza serve` with the Admin API settings: two guests in the meeting room get a conference whose room
    exists on Janus."""
    sys_path = str(ROOT / "Tests" / "Conformance")
    import sys
    if sys_path not in sys.path:
        sys.path.insert(0, sys_path)
    import wire
    port = free_port()
    data = tmp_path / "data"
    config = tmp_path / "plaza.json"
    config.write_text(json.dumps({"media": {
        "janusURL": f"wss://{DOMAIN}:{janus_deployed['wss_port']}", "janusAdminURL": janus_deployed["admin_url"],
        "janusAdminSecret": janus_deployed["admin_secret"], "janusRoomAdminKey": janus_deployed["admin_key"]}}))
    log = open(tmp_path / "plaza.log", "wb")
    process = subprocess.Popen([binary, "serve", "--port", str(port), "--data-dir", str(data), "--config", str(config)],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "plaza.log").read_text()
                time.sleep(0.1)
        sockets = []
        for name, x in (("Ann", 600), ("Bob", 700)):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/join", method="POST",
                                             data=json.dumps({"room": "deployed", "name": name}).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                token = json.load(response)["token"]
            websocket = wire.WebSocket.open(port)
            websocket.send_json({"type": "hello", "token": token})
            websocket.expect_json("welcome")
            websocket.send_json({"type": "move", "x": x, "y": 120})
            sockets.append(websocket)
        conference = sockets[0].expect_json("conference", timeout=10)
        assert conference["zone"] == "meeting-room" and conference["url"].startswith("wss://")
        exists = janus_admin(janus_deployed, {"janus": "message_plugin", "plugin": "janus.plugin.videoroom",
                                              "request": {"request": "exists", "room": conference["room"]}})
        assert exists["response"]["exists"] is True
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()

